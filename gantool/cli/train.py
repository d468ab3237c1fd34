"""`gantool train`: train a DCGAN or class-conditional DCGAN into a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

from enum import Enum

import typer

from gantool.cli import options as opt

MODEL, LOSS, DATA, RUN = "Model", "Loss and optimiser", "Data", "Run"


class Activation(str, Enum):
    relu = "relu"
    leaky_relu = "leaky-relu"


class Init(str, Enum):
    dcgan = "dcgan"
    default = "default"


class Loss(str, Enum):
    nonsaturating = "nonsaturating"
    saturating = "saturating"
    lsgan = "lsgan"
    hinge = "hinge"
    wgan_gp = "wgan-gp"


def _o(*names: str, help: str, panel: str, **kw):
    return typer.Option(*names, help=help, rich_help_panel=panel, show_default=False, **kw)


def train(
    ctx: typer.Context,
    data: Annotated[Optional[str], _o("--data", "-d", help="digits (default, embedded), mnist, fashion-mnist, cifar10, svhn, a folder of images (class subfolders give labels) or a .npy/.npz file.", panel=DATA)] = None,
    data_root: Annotated[Optional[Path], _o("--data-root", help="Where torchvision data sets live (default ~/.cache/gantool/data).", panel=DATA, envvar="GANTOOL_DATA_ROOT")] = None,
    download: Annotated[bool, _o("--download", help="Let torchvision try to download a missing data set.", panel=DATA)] = False,
    image_size: Annotated[Optional[int], _o("--image-size", help="Train at this size: 16, 32, 64, ... or 28, 56, ... (default: the data's size, rounded up to one of those, at least 28).", panel=DATA, min=1)] = None,
    channels: Annotated[Optional[int], _o("--channels", help="1 (grayscale) or 3 (RGB) (default: the data's).", panel=DATA, min=1, max=3)] = None,
    conditional: Annotated[Optional[bool], _o("--conditional/--unconditional", help="Condition G and D on the class labels (default: unconditional).", panel=MODEL)] = None,
    nz: Annotated[Optional[int], _o("--nz", help="Size of z (default 64).", panel=MODEL, min=1)] = None,
    ngf: Annotated[Optional[int], _o("--ngf", help="Generator width: channels of its last hidden layer (default 32).", panel=MODEL, min=1)] = None,
    ndf: Annotated[Optional[int], _o("--ndf", help="Discriminator width: channels of its first layer (default 32).", panel=MODEL, min=1)] = None,
    batch_norm: Annotated[Optional[bool], _o("--batch-norm/--no-batch-norm", help="Batch norm in G and D (never in D under wgan-gp) (default on).", panel=MODEL)] = None,
    g_activation: Annotated[Optional[Activation], _o("--g-activation", help="Generator activation: relu or leaky-relu (default relu).", panel=MODEL)] = None,
    d_activation: Annotated[Optional[Activation], _o("--d-activation", help="Discriminator activation: relu or leaky-relu (default leaky-relu).", panel=MODEL)] = None,
    init: Annotated[Optional[Init], _o("--init", help="Weight init: dcgan (N(0, 0.02) convs, N(1, 0.02) BN scales) or default (PyTorch's) (default dcgan).", panel=MODEL)] = None,
    spectral_norm: Annotated[Optional[bool], _o("--spectral-norm/--no-spectral-norm", help="Spectral normalisation of D's layers (default off).", panel=MODEL)] = None,
    loss: Annotated[Optional[Loss], _o("--loss", help="nonsaturating (default), saturating (the minimax log(1 - D(G(z))) G loss), lsgan, hinge or wgan-gp.", panel=LOSS)] = None,
    lr_g: Annotated[Optional[float], _o("--lr-g", help="Generator learning rate (default 4e-4).", panel=LOSS)] = None,
    lr_d: Annotated[Optional[float], _o("--lr-d", help="Discriminator learning rate (default 2e-4).", panel=LOSS)] = None,
    beta1: Annotated[Optional[float], _o("--beta1", help="Adam beta1 (default 0.5).", panel=LOSS)] = None,
    beta2: Annotated[Optional[float], _o("--beta2", help="Adam beta2 (default 0.999).", panel=LOSS)] = None,
    d_steps: Annotated[Optional[int], _o("--d-steps", help="Discriminator steps per generator step (default 1).", panel=LOSS, min=1)] = None,
    label_smoothing: Annotated[Optional[float], _o("--label-smoothing", help="Target for real images, e.g. 0.9 (one-sided smoothing) (default 1).", panel=LOSS)] = None,
    gp_weight: Annotated[Optional[float], _o("--gp-weight", help="Gradient penalty weight for wgan-gp (default 10).", panel=LOSS)] = None,
    ema: Annotated[Optional[float], _o("--ema", help="Keep an exponential moving average of G with this decay (e.g. 0.999) and save it (default 0: off).", panel=LOSS)] = None,
    epochs: Annotated[Optional[int], _o("--epochs", "-e", help="Passes over the data (default 45 when --steps is not given).", panel=RUN, min=1)] = None,
    steps: Annotated[Optional[int], _o("--steps", help="Generator steps, instead of --epochs.", panel=RUN, min=1)] = None,
    batch_size: Annotated[Optional[int], _o("--batch-size", "-b", help="Images per batch (default 64).", panel=RUN, min=1)] = None,
    out: Annotated[Path, _o("--out", help="Run folder for model, checkpoint, sample grids and losses (default run).", panel=RUN)] = Path("run"),
    resume: Annotated[bool, _o("--resume", help="Continue the run in --out from its checkpoint, to the same total.", panel=RUN)] = False,
    force: Annotated[bool, _o("--force", help="Start over in an --out that already holds a run.", panel=RUN)] = False,
    compile: Annotated[bool, _o("--compile", help="Compile G and D with torch.compile.", panel=RUN)] = False,
    amp: Annotated[Optional[bool], _o("--amp/--no-amp", help="bf16 autocast (default: on with CUDA).", panel=RUN)] = None,
    log_every: Annotated[int, _o("--log-every", help="Steps between loss readings (each one syncs the device) (default 25).", panel=RUN, min=1)] = 25,
    sample_every: Annotated[int, _o("--sample-every", help="Epochs between sample grids (default 1).", panel=RUN, min=1)] = 1,
    device: opt.Device = None,
    seed: opt.Seed = None,
    quiet: opt.Quiet = False,
    json: opt.Json = False,
    debug: opt.Debug = False,
) -> None:
    """Train a DCGAN (or, with --conditional, a class-conditional DCGAN).

    With no options it trains on the embedded digits for about a minute on a CPU. The run folder
    (--out) gets model.safetensors, checkpoint.safetensors, samples/epoch-NNNN.png (the same latents
    each epoch), losses.csv and losses.png. Ctrl-C saves a checkpoint and exits 130; --resume
    continues it. Prints the model's path on stdout.
    """
    env = opt.setup(ctx, device, seed, quiet, json, debug)
    import secrets

    from gantool.data import load_data
    from gantool.device import resolve_device
    from gantool.progress import make_progress
    from gantool.signals import StopFlag, stop_on_sigint
    from gantool.training import GANTrainer, Runtime, TrainSpec, check_out, clear_old_run, read_saved_spec

    def value(choice):
        return choice.value if isinstance(choice, Enum) else choice

    g_activation, d_activation, init, loss = map(value, (g_activation, d_activation, init, loss))
    explicit = dict(data=data, image_size=image_size, channels=channels, conditional=conditional, nz=nz, ngf=ngf,
                    ndf=ndf, batch_norm=batch_norm, g_activation=g_activation, d_activation=d_activation, init=init,
                    spectral_norm=spectral_norm, loss=loss, lr_g=lr_g, lr_d=lr_d, beta1=beta1, beta2=beta2,
                    d_steps=d_steps, label_smoothing=label_smoothing, gp_weight=gp_weight, ema=ema, epochs=epochs,
                    steps=steps, batch_size=batch_size, seed=env.options.seed)
    dev = resolve_device(env.options.device)
    saved = read_saved_spec(out) if resume else None
    if saved is None and explicit["seed"] is None:
        explicit["seed"] = secrets.randbelow(2**31)
    spec = TrainSpec.merged(explicit, saved)
    spec.validate()
    check_out(out, resume, force)

    images = load_data(spec.data, root=str(data_root) if data_root else None, download=download,
                       channels=spec.channels, image_size=spec.image_size)
    spec.image_size, spec.channels = images.image_size, images.channels
    stop = StopFlag()
    trainer = GANTrainer(spec, images, out, Runtime(device=str(dev), compile=compile, amp=amp, log_every=log_every,
                                                    sample_every=sample_every),
                         progress=make_progress(env, "train"), stop=stop)
    if force and not resume:  # only now that the data and options are known to be good
        clear_old_run(out)
    if resume:
        trainer.restore()
        env.log(f"resuming {out} at step {trainer.step}/{trainer.total_steps}")
    else:
        kind = "conditional DCGAN" if trainer.cfg.conditional else "DCGAN"
        env.log(f"training a {kind} ({trainer.cfg.image_size}x{trainer.cfg.image_size}x{trainer.cfg.channels}) "
                f"on {images.name} ({images.num_images} images) for {trainer.total_steps} steps on {dev}, seed {spec.seed}")
    with stop_on_sigint(stop):
        summary = trainer.run()
    model_path = out / "model.safetensors"
    env.log(f"wrote {model_path} after {summary['steps']} steps in {summary['seconds']:.0f}s")
    if env.options.json:
        opt.print_json(env, {"model": str(model_path), "run": str(out), **summary})
    else:
        env.write_text(f"{model_path}\n")


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("Train on the embedded digits with the defaults; the model lands in run/model.safetensors.", "gantool train"),
    ("Train on MNIST kept in ~/data, at 32x32, for 5 epochs.",
     "gantool train --data mnist --data-root ~/data --image-size 32 --epochs 5 --out mnist-run"),
    ("A class-conditional GAN on a folder with one subfolder of images per class, hinge loss, spectral norm in D.",
     "gantool train --data faces/ --conditional --loss hinge --spectral-norm"),
    ("Continue an interrupted run from its checkpoint.", "gantool train --out run --resume"),
]
