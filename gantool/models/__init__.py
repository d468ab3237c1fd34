"""Model architectures, one file per family. Each is rebuilt from a plain-data config alone."""
