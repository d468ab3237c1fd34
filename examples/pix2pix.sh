#!/usr/bin/env bash
# gantool pix2pix: a colorizer and its L1-only baseline trained on crops of two photos, compared
# side by side, then applied to a photo of another size; a learned inpainter for digits.
#
#   examples/pix2pix.sh [WORKDIR]      # about three minutes on a 2-core CPU
#   QUICK=1 examples/pix2pix.sh DIR    # a few training steps only (the test suite runs this)
set -euo pipefail

work=${1:-pix2pix}
mkdir -p "$work/photos"
# scikit-learn ships two colour photos (china, flower): the training data, as PNG files
python3 - "$work/photos" <<'PY'
import sys
from PIL import Image
from sklearn.datasets import load_sample_images

for name, image in zip(("china", "flower"), load_sample_images().images):
    Image.fromarray(image).save(f"{sys.argv[1]}/{name}.png")
Image.fromarray(load_sample_images().images[0][40:240, 100:357]).save(f"{sys.argv[1]}/../crop.png")
PY

budget=(--epochs 150 --decay-epochs 150)
small=(--ngf 32 --ndf 32)
if [ "${QUICK:-0}" = 1 ]; then
    budget=(--epochs 2 --decay-epochs 1)
    small=(--ngf 4 --ndf 4)
fi
colour=(--task colorize --data "$work/photos" --image-size 64 --load-size 160 --batch-size 4 "${small[@]}")

# 1. pix2pix (GAN + 100 x L1) and the L1-only regression baseline, same data, same budget.
gantool --seed 0 train-pix2pix "${colour[@]}" "${budget[@]}" --out "$work/colorize" --force
gantool --seed 0 train-pix2pix "${colour[@]}" "${budget[@]}" --gan-weight 0 --out "$work/l1" --force

# 2. The two runs side by side: the options that differ, the curves, the held-out grids.
gantool compare "$work/colorize" "$work/l1" -o "$work/compare.png"

# 3. Colour a 257x200 crop again from its own L, and score both against the true colours.
gantool translate -m "$work/colorize/model.safetensors" "$work/crop.png" --self-reference --out-dir "$work/pix2pix-out"
gantool translate -m "$work/l1/model.safetensors" "$work/crop.png" --self-reference --out-dir "$work/l1-out"

# 4. A learned inpainter: pairs made by a centre hole on the digits, the hole filled in one pass.
steps=(--epochs 20 --decay-epochs 10)
[ "${QUICK:-0}" = 1 ] && steps=(--epochs 1 --decay-epochs 0)
gantool --seed 0 train-pix2pix --task restore --mask center --data digits --image-size 28 --no-random-crop \
    "${small[@]}" "${steps[@]}" --out "$work/inpaint" --force
gantool info "$work/inpaint/model.safetensors"
