"""Transfer learning: features of a trained network (extract-features) and classical models on them (svm)."""

# Torch- and numpy-free, for --help and completion (gantool.transfer.extract's settings name them)
PENULTIMATE = "penultimate"  # the layer that feeds the head: what a classifier knows
POOLS = ("avg", "max", "flatten")  # conv maps (N, C, H, W) to vectors
