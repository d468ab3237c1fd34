#!/usr/bin/env bash
# Transfer learning with gantool: features from a trained digit classifier and from a GAN's
# discriminator (the DCGAN paper's recipe), beside raw pixels, each fed to a linear SVM; one table.
#
#   examples/transfer.sh [WORKDIR]      # trains a classifier and a GAN first (a few minutes on a CPU)
#   QUICK=1 examples/transfer.sh DIR    # tiny models, few steps (the test suite runs this)
set -euo pipefail

work=${1:-transfer}
mkdir -p "$work"
gan=(--steps 1500)
clf=()
svm=(--C 0.1,1,10)
if [ "${QUICK:-0}" = 1 ]; then
    gan=(--steps 4 --nz 16 --ngf 8 --ndf 8 --image-size 16 --batch-size 32)
    clf=(--epochs 2)
    svm=(--C 0.1,1 --folds 3)
fi

# 1. The networks to take features from: a digit classifier and an (unconditional) GAN on digits.
gantool --seed 0 -q train-classifier -o "$work/digits.safetensors" "${clf[@]}"
gantool --seed 0 -q train --out "$work/gan" --force "${gan[@]}" > /dev/null

# 2. Features: the classifier's penultimate layer, the discriminator's last conv map (flattened),
#    and raw pixels written in the same .npz format (features, labels, classes, paths).
gantool extract-features --data digits -m "$work/digits.safetensors" -o "$work/classifier.npz" -q
gantool extract-features --data digits -m "$work/gan/model.safetensors" --pool flatten -o "$work/discriminator.npz" -q
python3 - "$work/pixels.npz" <<'PY'
import sys
import numpy as np
from sklearn.datasets import load_digits
d = load_digits()
np.savez(sys.argv[1], features=(d.data / 16).astype(np.float32), labels=d.target.astype(np.int64),
         classes=np.array([str(c) for c in d.target_names]), paths=np.array([f"digits[{i}]" for i in range(len(d.data))]),
         layer=np.array("pixels"), model=np.array("none"))
PY

# 3. One SVM per features file, C chosen by 5-fold cross-validation: one comparison table.
gantool svm train "$work/pixels.npz" "$work/classifier.npz" "$work/discriminator.npz" "${svm[@]}" --out-dir "$work/svms"

# 4. The classifier features' SVM again, on its own: the CV table, per-class accuracy, a confusion
#    matrix; then the saved model predicts the rows it held out, with the same accuracy.
gantool svm train "$work/classifier.npz" "${svm[@]}" -o "$work/svm.safetensors"
gantool svm evaluate "$work/classifier.npz" -m "$work/svm.safetensors" --held-out | tail -n 1
echo "transfer: see $work/svm-confusion.png and $work/svms/" >&2
