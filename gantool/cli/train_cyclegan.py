"""`gantool train-cyclegan`: train a CycleGAN (two ResNet generators, a PatchGAN per domain) into a run folder.

The options come from gantool.translation.cycle_spec.CycleGANSpec; this module adds the run folder
options and prints.
"""

from __future__ import annotations

from pathlib import Path

from gantool.cli import kit
from gantool.cli.train import Force, Out, Resume
from gantool.context import Env
from gantool.translation.cycle_spec import CycleGANSpec
from gantool.translation.spec import DATA

DataRoot, Download = kit.data_root_option(DATA)


@kit.command(settings={"spec": CycleGANSpec})
def train_cyclegan(env: Env, spec: dict, data_root: DataRoot = None, download: Download = False,
                   out: Out = Path("run"), resume: Resume = False, force: Force = False) -> None:
    """Train a CycleGAN: unpaired translation between two domains, both directions in one model.

    Data: two unpaired domains, --data-a and --data-b (each any source `gantool train` takes; their
    sizes and channel counts may differ), or one folder with trainA/ and trainB/ (--data). An epoch
    covers the larger domain; the smaller is drawn from at random. The run folder (--out) gets
    model.safetensors (kind translator, arch cyclegan: `gantool translate --direction a2b|b2a`
    applies either generator), checkpoint.safetensors (both optimisers, both image pools, the
    random state: --resume continues exactly), samples/epoch-NNNN.png (fixed inputs each epoch:
    A | G(A) | F(G(A)) rows, then B | F(B) | G(F(B))), losses.csv and losses.png. Ctrl-C or SIGTERM
    saves a checkpoint and exits 130 or 143. Prints the model's path on stdout (--json: one object).
    """
    from gantool.device import prepare
    from gantool.progress import make_progress
    from gantool.signals import StopFlag
    from gantool.translation.cycle_trainer import start

    dev = prepare(env.options.device, env.options.threads)
    stop = StopFlag()
    seed = {"seed": env.options.seed} if "seed" in env.options.explicit else {}
    trainer = start({**spec, **seed}, out, dev, resume=resume, force=force,
                    data_root=str(data_root) if data_root else None, download=download,
                    progress=make_progress(env, "train-cyclegan"), log=env.log, warn=env.warn, stop=stop)
    kit.run_training(env, trainer, out, stop)

# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("horse2zebra from the public CycleGAN set (trainA/, trainB/, testA/, testB/), the paper's budget.",
     "gantool train-cyclegan --data horse2zebra/ --epochs 100 --decay-epochs 100 --out h2z-run"),
    ("Gray digits to colour digits: domains of different channels (no identity term), small networks.",
     "gantool train-cyclegan --data-a digits --data-b colour-digits.npz --image-size 16 --n-blocks 6 --ngf 32 "
     "--ndf 32 --batch-size 8 --out digits-run"),
    ("Sneakers to ankle boots from two .npy arrays, without the image pools.",
     "gantool train-cyclegan --data-a sneakers.npy --data-b boots.npy --image-size 28 --pool-size 0 --out shoes-run"),
    ("Continue an interrupted run from its checkpoint.", "gantool train-cyclegan --out h2z-run --resume"),
]
FILES = [("RUN/model.safetensors", "The CycleGAN (generator_ab, generator_ba, discriminator_a, discriminator_b; "
                                   "kind translator, arch cyclegan) with both domains' names, sizes and channels."),
         ("RUN/checkpoint.safetensors", "Both optimisers, both image pools, the random generators' states and the "
                                        "step: what --resume continues from."),
         ("RUN/samples/epoch-NNNN.png", "The fixed inputs after each epoch: A | G(A) | F(G(A)), then B | F(B) | "
                                        "G(F(B))."),
         ("RUN/losses.csv, RUN/losses.png", "Each discriminator's loss, each generator's GAN term, both cycle (and "
                                            "identity) terms, the discriminators on real and generated images, the "
                                            "learning rate.")]
