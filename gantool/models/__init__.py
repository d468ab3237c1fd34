"""Networks by architecture name (registry.py), one module per family (dcgan.py), and the one
loader every command uses (loader.py)."""
