#!/usr/bin/env bash
# Domain adaptation with gantool: gray handwritten digits (labelled) -> their MNIST-M-style blend
# with colour photos (its labels kept for scoring only), by a Domain-Adversarial Neural Network
# (DANN), against the source-only classifier trained with the same seed and budget.
#
#   examples/domain_adaptation.sh [WORKDIR]      # about a minute on a 2-core CPU
#   QUICK=1 examples/domain_adaptation.sh DIR    # one epoch of a tiny network (the test suite runs this)
#   PHOTOS=/usr/share/doc/opencv-doc/examples/data examples/domain_adaptation.sh   # other photos
set -euo pipefail

work=${1:-domain-adaptation}
mkdir -p "$work"
budget=(--epochs 20)
if [ "${QUICK:-0}" = 1 ]; then
    budget=(--epochs 1 --width 4)
fi

# 1. Photos that install with scikit-learn (two), unless PHOTOS names a folder of your own.
photos=${PHOTOS:-$work/photos}
if [ -z "${PHOTOS:-}" ]; then
    python3 - "$photos" <<'PY'
import os, sys
from PIL import Image
from sklearn.datasets import load_sample_images
os.makedirs(sys.argv[1], exist_ok=True)
for name, image in zip(("china", "flower"), load_sample_images().images):
    Image.fromarray(image).save(os.path.join(sys.argv[1], f"{name}.png"))
PY
fi

# 2. The target: each digit binarized over a random crop of a random photo, colours inverted under
#    its strokes (the MNIST-M recipe), seeded; the labels stay in the .npz for scoring.
gantool --seed 0 -q blend --data digits --photos "$photos" -o "$work/digits-m.npz"

# 3. DANN from the gray digits to the blend, and the source-only classifier beside it: the table
#    gives source held-out, target held-out and domain head accuracy; the picture shows the
#    features of both domains before (source only) and after adaptation.
gantool --seed 0 train-classifier --data digits --adapt "$work/digits-m.npz" --compare-source-only \
    --features-png "$work/features.png" -o "$work/dann.safetensors" "${budget[@]}"

# 4. The adapted classifier is an ordinary one: info shows what its header records of the
#    adaptation, classify labels target images.
gantool info "$work/dann.safetensors" | grep -E "kind|adaptation" || true
python3 -c 'import sys, numpy as np; np.save(sys.argv[2], np.load(sys.argv[1])["images"][:8])' \
    "$work/digits-m.npz" "$work/eight.npy"
gantool classify -m "$work/dann.safetensors" "$work/eight.npy"
echo "domain adaptation: see $work/features.png" >&2
