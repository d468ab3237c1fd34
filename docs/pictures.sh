#!/usr/bin/env bash
# Regenerates every picture of README.md from real data, each by the command written above it.
# Run by hand, not by `make test` (about 40 minutes on a 2-core CPU, most of it the Fashion-MNIST GAN):
#
#   apt-get install dataset-fashion-mnist opencv-doc    # 70,000 Fashion-MNIST images; 5,000 real digits, photos
#   pip install -e '.[bench]'                            # scikit-image, for the restoration and pix2pix benches
#   bash docs/pictures.sh [WORKDIR]                      # models and data in WORKDIR (default pictures-work/)
#   PIX2PIX=1 bash docs/pictures.sh                      # also the translation panels (about 2 hours more)
#
# `make demo` keeps the embedded scikit-learn digits, so a fresh machine needs none of this.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-pictures-work}
mkdir -p "$work"
gt() { gantool --seed 0 --threads "${THREADS:-2}" "$@"; }
say() { printf '\n# %s\n' "$*" >&2; }

# ---- the data: Fashion-MNIST (train / test) and OpenCV's real digits (80 / 20 of each row) ----
for set in fashion-train fashion-test digits-train digits-test; do
    [ -f "$work/$set.npz" ] || python bench/real_data.py "$set" "$work/$set.npz"
done
python bench/real_data.py fashion-test "$work/fashion-test8.npz" --first 8
python bench/real_data.py digits-test "$work/digits-test6.npz" --per-class 1 --first 6

# ---- Fashion-MNIST: the default recipe, its FID over training, samples, a walk, restoration ----
say "a judge for FID: a classifier of Fashion-MNIST"
[ -f "$work/fashion-judge.safetensors" ] ||
    gt train-classifier --data "$work/fashion-train.npz" --epochs 2 --width 16 -o "$work/fashion-judge.safetensors"
say "the default recipe on Fashion-MNIST's 60,000 training images, 3 epochs, FID every epoch"
[ -f "$work/fashion/model.safetensors" ] ||
    gt train --data "$work/fashion-train.npz" --epochs 3 --eval-every 1 \
        --eval-features "$work/fashion-judge.safetensors" --out "$work/fashion"
fashion="$work/fashion/model.safetensors"
gt sample -m "$fashion" -n 64 -o docs/fashion-samples.png
cp "$work/fashion/losses.png" docs/fashion-losses.png         # losses, D outputs and the FID panel
gantool --seed 3 sample -m "$fashion" -n 6 | gantool interpolate -m "$fashion" --mode path --steps 8 \
    -o docs/fashion-walk.png
gantool --seed 3 sample -m "$fashion" -n 4 | gantool interpolate -m "$fashion" --mode path --loop --steps 12 \
    --animate docs/fashion-loop.gif
gt restore --simulate --mask center "$work/fashion-test8.npz" -m "$fashion" --restarts 8 --paste-known \
    -o docs/fashion-restoration.png

# ---- real handwritten digits: a conditional GAN, a classifier, saliency, adversarial, classes ----
say "a conditional DCGAN on 4,000 real digits (20x20, trained at 28x28)"
[ -f "$work/cdigits/model.safetensors" ] ||
    gt train --data "$work/digits-train.npz" --conditional --image-size 28 --epochs 20 --out "$work/cdigits"
gt sample -m "$work/cdigits/model.safetensors" -n 8 -o docs/digits-conditional.png
say "a classifier of real digits"
digits="$work/digits-classifier.safetensors"
[ -f "$digits" ] || gt train-classifier --data "$work/digits-train.npz" -o "$digits"
for method in gradient smoothgrad integrated-gradients grad-cam; do
    gt saliency "$work/digits-test6.npz" -m "$digits" --method "$method" -o "$work/saliency-$method.png" >/dev/null
done
python - "$work" docs/saliency-digits.png <<'PY'
import sys
from PIL import Image
work, out = sys.argv[1:3]
grids = [Image.open(f"{work}/saliency-{m}.png").convert("RGB")
         for m in ("gradient", "smoothgrad", "integrated-gradients", "grad-cam")]
w, h = grids[0].size
sheet = Image.new("RGB", (w * len(grids) + 8 * (len(grids) - 1), h), "white")
for i, g in enumerate(grids):
    sheet.paste(g, (i * (w + 8), 0))
sheet.save(out)
PY
gt --json adversarial "$work/digits-test6.npz" -m "$digits" --method pgd --eps 0.3 --target runner-up \
    --out-dir "$work/pgd" > "$work/pgd.jsonl"
python -c "import numpy, sys; numpy.save(sys.argv[2], numpy.load(sys.argv[1])['images'][:, 0])" \
    "$work/digits-test6.npz" "$work/digits-test6.npy"
python bench/adversarial_figure.py "$work/pgd" "$work/pgd.jsonl" "$work/digits-test6.npy" docs/adversarial-digits.png
gt visualize-class -m "$digits" --target all -o "$work/classes.png" --strip docs/visualize-class-digits.png >/dev/null
gt extract-features --data "$work/digits-train.npz" -m "$digits" -o "$work/digits-features.npz"
gt svm train "$work/digits-features.npz" --confusion docs/transfer-confusion.png -o "$work/svm.safetensors" >/dev/null

# ---- domain adaptation: the real digits -> their blend with OpenCV's colour photos (DANN) ----
say "DANN from the real digits to their MNIST-M-style blend, the features before and after"
[ -d "$work/photos" ] || python -c "import sys; sys.path.insert(0, 'bench'); from pathlib import Path; \
from dann import colour_photos; from real_data import OPENCV; colour_photos(OPENCV, Path(sys.argv[1]))" "$work/photos"
gt -q blend --data "$work/digits-train.npz" --photos "$work/photos" -o "$work/digits-m.npz"
gt train-classifier --data "$work/digits-train.npz" --adapt "$work/digits-m.npz" --compare-source-only \
    --epochs 30 --batch-size 32 --width 8 --features-png docs/dann-features.png -o "$work/dann.safetensors"

# ---- compare: three generator widths on the real digits, 10 epochs each ----
for n in 16 32 64; do
    [ -f "$work/sweep/ngf$n/model.safetensors" ] ||
        gt train --data "$work/digits-train.npz" --image-size 28 --ngf "$n" --epochs 10 --out "$work/sweep/ngf$n"
done
gantool compare "$work"/sweep/ngf* -o docs/compare-sweep.png >/dev/null

# ---- the translation panels (PIX2PIX=1): real photos, and learned restoration of Fashion-MNIST ----
if [ "${PIX2PIX:-0}" = 1 ]; then
    python bench/pix2pix.py colorize --threads "${THREADS:-2}" --epochs 1600 --gan-weight 2 \
        --panel docs/pix2pix-colorize.png
    bash bench/learned_restoration.sh "$work/restorers"      # docs/pix2pix-restoration.png, docs/restoration.md
fi
say "pictures written in docs/"
