"""`gantool train`: train a DCGAN or class-conditional DCGAN into a run folder.

The model, loss and budget options come from gantool.gan.spec.TrainSpec and Runtime (written
there once); this module adds the run folder and data-location options, and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.errors import GantoolError
from gantool.gan.spec import DATA, RUN, Runtime, TrainSpec
from gantool.metrics.selection import EVAL, SelectionSettings

DataRoot, Download = kit.data_root_option(DATA)
Out = Annotated[Path, typer.Option(
    "--out", show_default=False, rich_help_panel=RUN, metavar="DIR",
    help="Run folder for model, checkpoint, sample grids and losses (default run).")]
Resume = Annotated[bool, typer.Option(
    "--resume", show_default=False, rich_help_panel=RUN,
    help="Continue the run in --out from its checkpoint: to the same total, or further with a larger "
         "--epochs/--steps.")]
Force = Annotated[bool, typer.Option(
    "--force", show_default=False, rich_help_panel=RUN,
    help="Start over in an --out that already holds a run (the old run stays until the new one's first "
         "checkpoint).")]
EvalFeatures = Annotated[Optional[str], typer.Option(
    "--eval-features", show_default=False, rich_help_panel=EVAL, metavar="FILE",
    help="The judge for --eval-every: a classifier .safetensors of the same domain (`gantool train-classifier`), "
         "its penultimate features.")]


@kit.command(settings={"spec": TrainSpec, "runtime": Runtime, "evaluation": SelectionSettings})
def train(env: Env, spec: dict, runtime: dict, evaluation: dict, data_root: DataRoot = None,
          download: Download = False, out: Out = Path("run"), resume: Resume = False, force: Force = False,
          eval_features: EvalFeatures = None) -> None:
    """Train a DCGAN (or, with --conditional, a class-conditional DCGAN).

    With no options it trains on the embedded digits for 4,000 steps (80 s on a 2-core CPU with bf16). The run folder
    (--out) gets model.safetensors, checkpoint.safetensors, samples/epoch-NNNN.png (the same latents
    each epoch), losses.csv and losses.png. Ctrl-C or SIGTERM saves a checkpoint and exits 130 or
    143; --resume continues it. Prints the model's path on stdout (--json: one object).

    With --eval-every N and --eval-features CLASSIFIER, the FID of the generator (the EMA one with
    --ema) is measured every N epochs against the training data in the classifier's features, logged
    in losses.csv and drawn in losses.png, and model-best.safetensors keeps the model at its lowest
    FID; `gantool evaluate` scores any model file in full.

    Under torchrun (`torchrun --nproc_per_node N -m gantool train ...`) each process trains on its
    share of every batch (--batch-size is the global batch, split evenly) with DistributedDataParallel:
    NCCL and one GPU per process (LOCAL_RANK), or Gloo on CPUs; only rank 0 writes and prints.
    """
    from gantool.device import prepare
    from gantool.errors import UsageError
    from gantool.gan.distributed import World

    world = World.from_environ(env.environ)
    if not world.main:  # rank 0 speaks for the run; errors still reach stderr (gantool.cli.app)
        env = _silent(env)
    try:
        if ("eval_every" in evaluation) != (eval_features is not None):
            given, missing = ("--eval-features", "--eval-every") if eval_features else ("--eval-every",
                                                                                        "--eval-features")
            raise UsageError(f"{given} needs {missing}", "give --eval-every EPOCHS --eval-features CLASSIFIER")
        dev = world.device(prepare(env.options.device, world.threads(env.options.threads)), env.options.device)
        # the judge is checked on every process (its errors are the same on all); rank 0 measures
        selection = SelectionSettings(**evaluation).selection(eval_features, dev)
    except GantoolError as e:  # the same on every process: rank 0 says it
        raise world.agreed(e) from None
    with world.session():  # leaves the process group however the run ends
        _train(env, world, dev, spec, runtime, data_root, download, out, resume, force, selection)


def _train(env: Env, world, dev, spec: dict, runtime: dict, data_root, download: bool, out: Path, resume: bool,
           force: bool, selection) -> None:
    from gantool.gan.trainer import start
    from gantool.progress import make_progress
    from gantool.signals import StopFlag, stop_on_signals

    stop = StopFlag()  # Ctrl-C before training starts ends the command at once (one line, 130)
    seed = {"seed": env.options.seed} if "seed" in env.options.explicit else {}  # else a resumed run keeps its own
    trainer = start({**spec, **seed}, out, Runtime(device=str(dev), **runtime), resume=resume, force=force,
                    data_root=str(data_root) if data_root else None, download=download,
                    progress=make_progress(env, "train"), log=env.log, warn=env.warn, stop=stop, world=world,
                    selection=selection if world.main else None)
    env.log(_starting(trainer, out, world, dev))
    done_before = trainer.step
    with stop_on_signals(stop):  # now a signal asks for a checkpoint first
        try:
            summary = trainer.run()
        except GantoolError as e:  # a stop or a divergence: every process meets it at the same step
            raise world.agreed(e) from None
    if trainer.step > done_before:
        env.log(f"wrote {trainer.folder.model} after {kit.plural(summary['steps'], 'step')} "
                f"in {summary['seconds']:.0f}s")
    if selection is not None and selection.best_fid is not None:
        summary["best_fid"], summary["best_fid_step"] = selection.best_fid, selection.best_step
        from gantool.metrics.report import number

        env.log(f"best FID {number(selection.best_fid, '.4g')} at step {selection.best_step}: {trainer.folder.best}")
    if env.options.json:
        kit.print_json(env, {"model": str(trainer.folder.model), "run": str(out), **summary})
    else:
        env.write_text(f"{trainer.folder.model}\n")


def _starting(trainer, out: Path, world, dev) -> str:
    """The status line before the first step: what is trained, or where a resumed run stands."""
    if trainer.resumed_at is not None and trainer.step >= trainer.total_steps:
        return (f"{out} is complete at step {trainer.step}/{trainer.total_steps}; nothing to do "
                f"(give a larger --epochs or --steps to train it longer)")
    if trainer.resumed_at is not None:
        return f"resuming {out} at step {trainer.step}/{trainer.total_steps}"
    cfg = trainer.cfg
    kind = "conditional DCGAN" if cfg.conditional else "DCGAN"
    where = f"{world.size} processes ({dev.type}, {'NCCL' if dev.type == 'cuda' else 'Gloo'})" \
        if world.distributed else str(dev)
    return (f"training a {kind} ({cfg.image_size}x{cfg.image_size}x{cfg.channels}) on {trainer.data.name} "
            f"({kit.plural(trainer.data.num_images, 'image')}) for {kit.plural(trainer.total_steps, 'step')} "
            f"on {where}, seed {trainer.spec.seed}")


def _silent(env: Env) -> Env:
    """The Env of a process other than rank 0: no result, log, progress or warning."""
    import io
    import warnings
    from dataclasses import replace

    warnings.simplefilter("ignore")  # inside gantool.cli.app's catch_warnings: for this command only
    return replace(env, stdout=io.BytesIO(), stderr=io.StringIO(), stdout_isatty=False, stderr_isatty=False,
                   options=replace(env.options, quiet=True))


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("Train on the embedded digits with the defaults; the model lands in run/model.safetensors.", "gantool train"),
    ("Train on MNIST kept in ~/data, at 32x32, for 5 epochs.",
     "gantool train --data mnist --data-root ~/data --image-size 32 --epochs 5 --out mnist-run"),
    ("A class-conditional GAN on a folder with one subfolder of images per class, hinge loss, spectral norm in D.",
     "gantool train --data faces/ --conditional --loss hinge --spectral-norm"),
    ("Continue an interrupted run from its checkpoint.", "gantool train --out run --resume"),
    ("Train a finished run further, to 60 epochs in all.", "gantool train --out run --resume --epochs 60"),
    ("Measure the FID every 5 epochs in the features of a digits classifier, and keep the best model as "
     "run/model-best.safetensors.", "gantool train-classifier -o digits.safetensors && "
                                    "gantool train --eval-every 5 --eval-features digits.safetensors"),
    ("Two trainings side by side on one machine: half the cores each.",
     "gantool --threads 1 train --out a & gantool --threads 1 train --out b --seed 2"),
    ("Train on the 4 GPUs of one machine (one process each, NCCL); --batch-size is the global batch, 64 per GPU.",
     "torchrun --standalone --nproc_per_node 4 -m gantool train --data cifar10 --batch-size 256 --out c10"),
    ("Two processes on a CPU (Gloo), batch norm over the global batch, as one process would train.",
     "torchrun --standalone --nproc_per_node 2 -m gantool train --device cpu --sync-batch-norm --out run2"),
    ("Two machines of 8 GPUs; the same line on each, NODE the machine's number (0 or 1), HOST the first "
     "machine's name (a SLURM script: docs/slurm-train.sh).",
     "torchrun --nnodes 2 --node_rank NODE --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 "
     "-m gantool train --data cifar10 --batch-size 1024 --out /shared/c10"),
]
FILES = [("RUN/model.safetensors", "The trained model (generator and discriminator) with its configuration."),
         ("RUN/checkpoint.safetensors", "Optimiser, RNG and step: what --resume continues from."),
         ("RUN/samples/epoch-NNNN.png", "A grid from the same latents after each epoch."),
         ("RUN/model-best.safetensors", "With --eval-every: the model at its lowest FID (the FID, its step and "
                                        "judge in the header's training summary, `gantool info` shows it)."),
         ("RUN/losses.csv, RUN/losses.png", "The losses and their plot; with --eval-every a fid column (empty where "
                                            "not measured) and an FID panel.")]
ENVIRONMENT = {
    "WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE": "Set by torchrun: this process's place in a run of several "
    "processes (DistributedDataParallel). Only rank 0 writes the run folder and prints; each process takes "
    "cuda:LOCAL_RANK (NCCL) or the CPU (Gloo), and by default its machine's cores divided by LOCAL_WORLD_SIZE.",
}
