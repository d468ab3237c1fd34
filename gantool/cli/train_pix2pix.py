"""`gantool train-pix2pix`: train a pix2pix translator (U-Net G, PatchGAN D) into a run folder.

The options come from gantool.translation.spec.Pix2PixSpec and, for restorers, the damage of
gantool.latent.restore.Damage; this module adds the run folder options and prints.
"""

from __future__ import annotations

from pathlib import Path

from gantool.cli import kit
from gantool.cli.train import Force, Out, Resume
from gantool.context import Env
from gantool.latent.restore import Damage
from gantool.translation.spec import DATA, Pix2PixSpec

DataRoot, Download = kit.data_root_option(DATA)


@kit.command(settings={"spec": Pix2PixSpec, "damage": Damage})
def train_pix2pix(env: Env, spec: dict, damage: dict, data_root: DataRoot = None, download: Download = False,
                  out: Out = Path("run"), resume: Resume = False, force: Force = False) -> None:
    """Train a pix2pix translator: a U-Net from A to B and a PatchGAN on (A, B) pairs.

    Data: A/ and B/ folders of the same file names, side-by-side AB images, or (--task colorize,
    --task restore) pairs made from any image source: L to a*b* in L*a*b*, or damaged to clean by
    the damage options of `gantool restore`. The run folder (--out) gets model.safetensors (kind
    translator: `gantool translate` applies it to images of any size), checkpoint.safetensors,
    samples/epoch-NNNN.png (the same held-out inputs each epoch: input | output | target),
    losses.csv and losses.png. Ctrl-C or SIGTERM saves a checkpoint and exits 130 or 143; --resume
    continues it. --gan-weight 0 trains the L1-only regression baseline. Prints the model's path on
    stdout (--json: one object).
    """
    from gantool.device import prepare
    from gantool.progress import make_progress
    from gantool.signals import StopFlag
    from gantool.translation.trainer import start

    dev = prepare(env.options.device, env.options.threads)
    stop = StopFlag()
    seed = {"seed": env.options.seed} if "seed" in env.options.explicit else {}
    trainer = start({**spec, **seed}, damage, out, dev, resume=resume, force=force,
                    data_root=str(data_root) if data_root else None, download=download,
                    progress=make_progress(env, "train-pix2pix"), log=env.log, warn=env.warn, stop=stop)
    kit.run_training(env, trainer, out, stop)

# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("Facades from the public pix2pix set (AB images in facades/train, facades/val), labels to photos.",
     "gantool train-pix2pix --data facades/ --direction b2a --epochs 100 --decay-epochs 100 --out facades-run"),
    ("A colorizer from a folder of colour photos, on 64x64 random crops of 72x72 images.",
     "gantool train-pix2pix --task colorize --data photos/ --image-size 64 --load-size 72 --out colorize-run"),
    ("The L1-only baseline of the same colorizer (no discriminator): compare how colourful each is.",
     "gantool train-pix2pix --task colorize --data photos/ --image-size 64 --gan-weight 0 --out l1-run"),
    ("A learned inpainter for Fashion-MNIST: pairs made by a centre hole, the reference's smoothing 0.9.",
     "gantool train-pix2pix --task restore --mask center --data fashion-mnist --label-smoothing 0.9 --out hole-run"),
    ("Continue an interrupted run from its checkpoint.", "gantool train-pix2pix --out facades-run --resume"),
]
FILES = [("RUN/model.safetensors", "The translator (U-Net generator and PatchGAN discriminator, kind translator) "
                                   "with its task, direction, sizes and damage in the header."),
         ("RUN/checkpoint.safetensors", "Optimisers, both random generators' states and the step: what --resume "
                                        "continues from."),
         ("RUN/samples/epoch-NNNN.png", "The fixed held-out inputs after each epoch: input | output | target."),
         ("RUN/losses.csv, RUN/losses.png", "D's loss, G's GAN and L1 terms, D on real and made pairs, the "
                                            "learning rate.")]
