#!/usr/bin/env bash
# gantool CycleGAN: unpaired translation between gray digits and MNIST-M-style colour digits (blended
# over crops of scikit-learn's two photos), one model for both directions, applied at another size.
#
#   examples/cyclegan.sh [WORKDIR]      # a few minutes on a 2-core CPU
#   QUICK=1 examples/cyclegan.sh DIR    # one small epoch only (the test suite runs this)
set -euo pipefail

work=${1:-cyclegan}
mkdir -p "$work/photos"
# the backgrounds: scikit-learn's two colour photos (china, flower) as PNG files; a gray 13x21 test image
python3 - "$work" <<'PY'
import sys
import numpy as np
from PIL import Image
from sklearn.datasets import load_digits, load_sample_images

for name, image in zip(("china", "flower"), load_sample_images().images):
    Image.fromarray(image).save(f"{sys.argv[1]}/photos/{name}.png")
digit = (load_digits().images[0] * 16).astype(np.uint8)
Image.fromarray(digit).resize((21, 13)).save(f"{sys.argv[1]}/digit-21x13.png")
PY

budget=(--epochs 4 --decay-epochs 4 --batch-size 16)
nets=(--ngf 16 --ndf 16 --n-blocks 6)
if [ "${QUICK:-0}" = 1 ]; then
    budget=(--epochs 1 --decay-epochs 0 --batch-size 64)
    nets=(--ngf 4 --ndf 4 --n-blocks 1)
fi

# 1. Domain B: the digits blended over random photo crops, in colour, at 16x16 (MNIST-M's recipe).
gantool --seed 0 blend --data digits --photos "$work/photos" --image-size 16 -o "$work/colour-digits.npz"

# 2. A CycleGAN between the gray digits (1 channel) and the colour ones (3): no identity term, since the
#    channels differ; an epoch covers the larger domain.
gantool --seed 0 train-cyclegan --data-a digits --data-b "$work/colour-digits.npz" --image-size 16 \
    "${nets[@]}" "${budget[@]}" --out "$work/run" --force

# 3. Both directions from the one file, at a size it was not trained on: gray -> colour, then back.
gantool translate -m "$work/run/model.safetensors" "$work/digit-21x13.png" --direction a2b --out-dir "$work/a2b"
gantool translate -m "$work/run/model.safetensors" "$work/a2b/digit-21x13.png" --direction b2a \
    --out-dir "$work/b2a" -o "$work/round-trip.png"
gantool info "$work/run/model.safetensors"
