"""Data: every source becomes one uint8 image tensor plus optional labels (sources.py), the
pixel normalization a model records and applies (normalization.py), and the built-in set names
(builtin.py). Import the modules themselves; this package file stays empty so --help stays fast."""
