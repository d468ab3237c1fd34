"""GAN training and sampling: settings (spec.py), losses (losses.py), the training loop
(trainer.py), the run folder (runfolder.py) and drawing from a generator (sampling.py)."""
