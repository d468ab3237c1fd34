"""Latent-space tools: walks between latents (walk.py) and latent arithmetic (arithmetic.py).

The choices below are plain data, read by the CLI for --help without importing NumPy.
"""

METHODS = ("slerp", "lerp")  # how z is interpolated
MODES = ("pairs", "path")  # which rows are walked between
