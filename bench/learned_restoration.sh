#!/usr/bin/env bash
# Learned restoration (pix2pix --task restore) beside latent search (gantool restore) and the best
# classical method, on held-out Fashion-MNIST, same damages, same scoring: bench/restore_quality.py
# with a --pix2pix restorer per damage.
#
#   bench/learned_restoration.sh [WORKDIR] [GAN_EPOCHS] [RESTORER_EPOCHS] [TRAIN_IMAGES]
#
# Needs dataset-fashion-mnist (apt-get) and scikit-image (pip install -e '.[bench]'). Defaults: a GAN
# of the default recipe for 2 epochs on the 60,000 training images, four restorers (U-Net width 32)
# for 2 + 2 epochs on the first 20,000, 64 test images scored; about 25 minutes on 2 cores.
set -euo pipefail
work=${1:-learned-restoration}
gan_epochs=${2:-2}
epochs=${3:-2}
n=${4:-20000}
py=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
[ -f "$work/train.npz" ] || "$py" "$here/restore_quality.py" --write-train "$work/train.npz"
"$py" - "$work/train.npz" "$work/train-$n.npz" "$n" <<'PY'
import sys
import numpy as np
d = np.load(sys.argv[1])
n = int(sys.argv[3])
np.savez(sys.argv[2], images=d["images"][:n], labels=d["labels"][:n])
PY
[ -f "$work/gan/model.safetensors" ] || gantool --seed 0 train --data "$work/train.npz" --epochs "$gan_epochs" --out "$work/gan" -q
common=(--task restore --data "$work/train-$n.npz" --image-size 28 --no-random-crop --ngf 32 --ndf 32 --batch-size 32
        --epochs "$epochs" --decay-epochs "$epochs" -q)
declare -A damage=([inpaint]="--mask center" [denoise]="--noise 0.3" [deblur]="--blur 1.5" [x4]="--downsample 4")
args=()
for kind in inpaint denoise deblur x4; do
    # shellcheck disable=SC2086
    [ -f "$work/$kind/model.safetensors" ] || gantool --seed 0 train-pix2pix "${common[@]}" ${damage[$kind]} --out "$work/$kind"
    args+=(--pix2pix "$kind=$work/$kind/model.safetensors")
done
"$py" "$here/restore_quality.py" --model "$work/gan/model.safetensors" --restarts 8 "${args[@]}" \
    --panel "$work/panel.png"
