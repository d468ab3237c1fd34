#!/usr/bin/env bash
# gantool latent tools: walks between samples (a grid, a looping GIF), latents that come back to
# pictures, latent arithmetic, and damaged digits repaired through the generator, all through pipes.
#
#   examples/latent_walks.sh [WORKDIR]      # trains the default model first (about 80 s on a 2-core CPU)
#   QUICK=1 examples/latent_walks.sh DIR    # a few training steps only (the test suite runs this)
set -euo pipefail

work=${1:-latent-walks}
budget=()
steps=100  # of each inversion and restoration
if [ "${QUICK:-0}" = 1 ]; then
    budget=(--steps 4 --nz 16 --ngf 8 --ndf 8 --image-size 16 --batch-size 32)
    steps=10
fi

# 1. A model to walk (or reuse one: export GANTOOL_MODEL=... and skip this).
gantool --seed 0 -q train --out "$work/run" --force "${budget[@]}" > /dev/null
export GANTOOL_MODEL="$work/run/model.safetensors"

# 2. Two samples and the 8 frames between them, on the sphere (slerp) and on the straight line (lerp).
gantool --seed 1 sample -n 2 --latents "$work/two.npy"
gantool interpolate "$work/two.npy" --steps 8 -o "$work/slerp.png"
gantool interpolate "$work/two.npy" --steps 8 --method lerp -o "$work/lerp.png"

# 3. One path through 4 samples, closed into a loop, as a GIF; its latents back to a grid by `sample`.
gantool --seed 2 sample -n 4 | gantool interpolate --mode path --loop --steps 10 --animate "$work/loop.gif" \
    --latents - | gantool sample --latents-in - -o "$work/loop-frames.png"

# 4. Latent arithmetic: averages of three exemplars, with 5 variants of the result.
gantool --seed 7 sample -n 12 -o "$work/pick.png" --latents "$work/pick.npy"
gantool --seed 3 arithmetic '[0,1,2] - [3,4,5] + [6,7,8]' "$work/pick.npy" -n 6 -o "$work/arithmetic.png" \
    --latents "$work/arithmetic.npy"
python3 -c 'import sys, numpy; print("arithmetic:", numpy.load(sys.argv[1]).shape)' "$work/arithmetic.npy"

# 5. Inversion: images the model drew come back to latents that redraw them (PSNR/SSIM table on stdout).
gantool --seed 8 sample -n 4 --out-dir "$work/drawn" -q
gantool --seed 8 invert "$work/drawn" --restarts 2 --init best-of-16 --steps "$steps" --latents "$work/inverted.npy" \
    -o "$work/inverted.png"
# 6. Restoration: real digits with a hole cut out, refilled by the model (damaged | restored | original,
#    PSNR of each on stdout); then the same digits 4x smaller and noisy, scaled back up, 3 variants each.
python3 -c 'import sys, numpy, sklearn.datasets as d; numpy.save(sys.argv[1], (d.load_digits().images[-8:] * 255 / 16).round().astype("uint8"))' "$work/digits.npy"
gantool --seed 9 restore --simulate --mask center "$work/digits.npy" --restarts 2 --steps "$steps" --paste-known \
    -o "$work/inpainted.png"
gantool --seed 9 restore --simulate --downsample 4 --noise 0.05 "$work/digits.npy" --variants 3 --steps "$steps" \
    -o "$work/upscaled.png" --latents "$work/upscaled.npy" -q
echo "latent walks: see $work/slerp.png, $work/lerp.png, $work/loop.gif, $work/arithmetic.png, $work/inverted.png," \
    "$work/inpainted.png, $work/upscaled.png" >&2
