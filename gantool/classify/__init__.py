"""Classifiers: training gantool's small CNN (training.py) and getting any classifier to inspect,
from the torchvision zoo, a gantool classifier file or a GAN's discriminator (classifiers.py)."""
