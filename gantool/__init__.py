"""gantool: composable commands for training GANs and looking inside CNNs."""

__version__ = "0.2.0"
