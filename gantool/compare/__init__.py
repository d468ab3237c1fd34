"""`gantool compare`: runs side by side (runs.py reads them, render.py draws them)."""
