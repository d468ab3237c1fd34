#!/usr/bin/env bash
# gantool's classifier inspection: a digits classifier, saliency maps of held-out digits, adversarial
# digits (targeted PGD, gradient ascent and growing spheres, checked as 8-bit PNGs) and the digit
# each class draws.
#
#   examples/interpretability.sh [WORKDIR]      # about half a minute on a CPU
#   QUICK=1 examples/interpretability.sh DIR    # small budgets (the test suite runs this)
set -euo pipefail

work=${1:-interpretability}
mkdir -p "$work"
steps=200; pgd=40; clf=()
if [ "${QUICK:-0}" = 1 ]; then
    steps=40; pgd=10; clf=(--epochs 3)
fi

# 1. The classifier: scikit-learn's digits, 20% held out (its accuracy table on stdout).
gantool --seed 0 train-classifier -o "$work/digits.safetensors" "${clf[@]}"
export MODEL="$work/digits.safetensors"

# 2. Eight digits of the held-out split (the same seeded split train-classifier kept aside).
python3 - "$work/digits.npy" <<'PY'
import sys, numpy, torch
from sklearn.datasets import load_digits
from gantool.classify.training import split
d = load_digits()
_, held = split(torch.tensor(d.target), 0.2, 0)
numpy.save(sys.argv[1], (d.images[numpy.sort(held)[:8]] * 255 / 16).round().astype("uint8"))
PY

# 3. Which pixels each decision rests on: gradient maps, with their deletion/insertion scores.
gantool saliency "$work/digits.npy" -m "$MODEL" --out-dir "$work/maps" -o "$work/saliency.png"

# 4. Adversarial digits: targeted PGD at Linf eps 0.3 towards each digit's runner-up class, then
#    gradient ascent to class 0 on the 1/255 lattice (the saved PNGs still fool the model). A table
#    each; the success rates, before and after 8-bit rounding, on stderr.
gantool adversarial "$work/digits.npy" -m "$MODEL" --method pgd --eps 0.3 --steps "$pgd" --target runner-up \
    --out-dir "$work/pgd" -o "$work/pgd.png"
gantool --json adversarial "$work/digits.npy" -m "$MODEL" --method gradient-ascent --target 0 --lattice \
    --out-dir "$work/ascent" > "$work/ascent.jsonl"
#    And a counterfactual that changes few pixels, without gradients: growing spheres towards class 0.
gantool --json adversarial "$work/digits.npy" -m "$MODEL" --method growing-spheres --target 0 \
    --out-dir "$work/spheres" > "$work/spheres.jsonl"

# 5. The digit each class draws, from noise, and the progress of each.
gantool visualize-class -m "$MODEL" --target all --steps "$steps" -o "$work/classes.png" --strip "$work/progress.png"
echo "interpretability: see $work/saliency.png, $work/pgd.png, $work/ascent/, $work/spheres/, $work/classes.png, $work/progress.png" >&2
