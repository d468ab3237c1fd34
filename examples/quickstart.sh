#!/usr/bin/env bash
# gantool quickstart: train a DCGAN on the embedded digits, draw a grid, pipe latents, inspect the
# model, then do the same with a class-conditional DCGAN.
#
#   examples/quickstart.sh [WORKDIR]      # about three minutes on a 2-core CPU
#   QUICK=1 examples/quickstart.sh DIR    # a few training steps only (the test suite runs this)
set -euo pipefail

work=${1:-quickstart}
budget=()
if [ "${QUICK:-0}" = 1 ]; then
    budget=(--steps 4 --nz 16 --ngf 8 --ndf 8 --image-size 16 --batch-size 32)
fi

# 1. Train (the default recipe: digits at 28x28) and draw 64 samples into a grid.
gantool --seed 0 train --out "$work/run" --force "${budget[@]}"
gantool --seed 0 sample -m "$work/run/model.safetensors" -n 64 -o "$work/grid.png"

# 2. The latent pipe: with GANTOOL_MODEL set, `sample` writes .npy latents to a pipe.
export GANTOOL_MODEL="$work/run/model.safetensors"
gantool --seed 1 sample -n 2 | python3 -c \
    'import io, sys, numpy; print("latents:", numpy.load(io.BytesIO(sys.stdin.buffer.read())).shape)'

# 3. Latents back to pictures: `sample --latents-in -` draws the rows another command sends it.
gantool --seed 1 sample -n 8 | gantool sample --latents-in - -o "$work/again.png"

# 4. What the model file says about itself.
gantool info "$GANTOOL_MODEL"

# 5. A class-conditional DCGAN: one row per digit class, then only sevens.
gantool --seed 0 train --out "$work/cgan" --conditional --force "${budget[@]}"
gantool --seed 0 sample -m "$work/cgan/model.safetensors" -n 8 -o "$work/per-class.png"
gantool --seed 0 sample -m "$work/cgan/model.safetensors" --class 7 -n 16 -o "$work/sevens.png" --latents "$work/sevens.npy"
echo "quickstart: see $work/grid.png, $work/again.png, $work/per-class.png, $work/sevens.png and $work/run/losses.png" >&2
