#!/usr/bin/env bash
# A sweep stays in the shell: train the same recipe at three generator widths (--ngf), then put the
# runs side by side with `gantool compare`: the option that differs, the numbers, the loss curves
# overlaid and the fixed-noise sample grids of the same latents, as a PNG panel and an HTML page.
#
#   examples/sweep.sh [WORKDIR]      # three runs of 10 epochs on the embedded digits (about a minute on a CPU)
#   QUICK=1 examples/sweep.sh DIR    # tiny models, two epochs (the test suite runs this)
set -euo pipefail

work=${1:-sweep}
mkdir -p "$work"
widths=(16 32 64)
budget=(--epochs 10)
if [ "${QUICK:-0}" = 1 ]; then
    widths=(8 12 16)
    budget=(--epochs 2 --nz 8 --ndf 8 --image-size 16 --batch-size 32)
fi

runs=()
for n in "${widths[@]}"; do
    gantool --seed 0 -q train --out "$work/ngf$n" --force --ngf "$n" "${budget[@]}" > /dev/null
    runs+=("$work/ngf$n")
done

gantool compare "${runs[@]}" --smooth 0.6 -o "$work/compare.png" --html "$work/compare.html"
gantool --json compare "${runs[@]}" > "$work/compare.jsonl"
echo "sweep: the panel in $work/compare.png, the page in $work/compare.html"
