"""What a GAN run is (TrainSpec) and how it runs (Runtime): each setting's default, range, choices
and help written once. `gantool train` builds its options from these fields; the library checks
them with `validate()`. Torch-free, so --help and completion stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from gantool.errors import BadValue, flag
from gantool.gan.augment import CHOICES as AUGMENTATIONS
from gantool.gan.losses import LOSSES
from gantool.models.dcgan_config import ACTIVATIONS, INITS, MAX_IMAGE_SIZE, DCGANConfig, base_and_doublings
from gantool.settings import check, setting

DATA, MODEL, LOSS, RUN = "Data", "Model", "Loss and optimiser", "Run"

# with neither --epochs nor --steps: a budget in steps, so the same time whatever the data set's size
# (about 80 s on a 2-core CPU with bf16; runs saved before it record their 45 epochs)
DEFAULT_STEPS = 4000
# What a run saved before a setting existed trained with (its --resume continues that run).
BEFORE = {"augment": "none", "class_weight": 0.0, "lr_decay": "none", "r1": 0.0}
LR_DECAYS = ("none", "linear", "cosine")
R1_EVERY = 16  # discriminator steps between R1 penalties (lazy regularization, Karras et al. 2020)
DEFAULT_R1 = 0.1  # with linear decay over the default budget: FID 58.5 against 62.0 (README "The default recipe")


@dataclass
class TrainSpec:
    """Everything that defines a run; --resume refuses settings that differ from the saved ones,
    except a larger budget (--epochs/--steps), which extends the run.

    The defaults are the recipe `gantool train` runs with no arguments: recognisable digits from
    the embedded `digits` set in about a minute and a half on a 2-core CPU. How they were chosen, and what
    they score against 0.1.0's and the textbook's: bench/quality.py and README "The default recipe".
    """

    data: str = setting("digits", "digits (embedded), mnist, fashion-mnist, cifar10, svhn, a folder of images "
                        "(class subfolders give labels) or a .npy/.npz file.", DATA, names=("-d",))
    image_size: int | None = setting(None, "Train at this size: 16, 32, 64, ... or 28, 56, ...", DATA, ge=1,
                                     le=MAX_IMAGE_SIZE, default_help="the data's size, rounded up to one of those, "
                                                                     "at least 28")
    channels: int | None = setting(None, "1 (grayscale) or 3 (RGB).", DATA, ge=1, le=3, default_help="the data's")
    conditional: bool = setting(False, "Condition G and D on the class labels.", MODEL,
                                flag="--conditional/--unconditional")
    nz: int = setting(64, "Size of z.", MODEL, ge=1)
    ngf: int = setting(32, "Generator width: channels of its last hidden layer.", MODEL, ge=1)
    ndf: int = setting(32, "Discriminator width: channels of its first layer.", MODEL, ge=1)
    batch_norm: bool = setting(True, "Batch norm in G and D (never in D under a loss with a gradient penalty).", MODEL)
    g_activation: str = setting("relu", "Generator activation.", MODEL, choices=ACTIVATIONS)
    d_activation: str = setting("leaky-relu", "Discriminator activation.", MODEL, choices=ACTIVATIONS)
    init: str = setting("dcgan", "Weight init: dcgan (N(0, 0.02) convs, N(1, 0.02) BN scales) or default (PyTorch's).",
                        MODEL, choices=INITS)
    spectral_norm: bool = setting(False, "Spectral normalisation of D's layers.", MODEL)
    loss: str = setting("nonsaturating", "; ".join(f"{k}: {v.help}" for k, v in LOSSES.items()) + ".", LOSS,
                        choices=tuple(LOSSES))
    lr_g: float = setting(3e-3, "Generator learning rate (G twice as fast as D: sharper images sooner).", LOSS, gt=0)
    lr_d: float = setting(1.5e-3, "Discriminator learning rate.", LOSS, gt=0)
    lr_decay: str = setting("linear", "Learning-rate decay of G and D over the run's steps: none (constant), linear "
                                    "(toward 0 at the last step) or cosine (half a cosine toward 0); a function of "
                                    "the step and the budget, so --resume to a larger budget follows the larger "
                                    "budget's curve.",
                            LOSS, choices=LR_DECAYS)
    beta1: float = setting(0.5, "Adam beta1.", LOSS, ge=0, lt=1)
    beta2: float = setting(0.99, "Adam beta2.", LOSS, ge=0, lt=1)
    d_steps: int = setting(1, "Discriminator steps per generator step.", LOSS, ge=1, le=100)
    label_smoothing: float = setting(1.0, "Target for real images, e.g. 0.9 (one-sided smoothing).", LOSS, gt=0, le=1)
    gp_weight: float = setting(10.0, "Gradient penalty weight (wgan-gp).", LOSS, ge=0)
    r1: float | None = setting(None, f"R1 regularization weight gamma (Mescheder et al. 2018): D's loss adds gamma/2 "
                                    f"times the squared norm of its gradient at the real images as it sees them "
                                    f"(augmented), every {R1_EVERY} discriminator steps with the weight times "
                                    f"{R1_EVERY} (lazy, as StyleGAN2); 0 is off.", LOSS, ge=0, le=1e6,
                               default_help=f"{DEFAULT_R1}, or 0 under a loss with its own gradient penalty, wgan-gp")
    ema: float = setting(0.0, "Keep an exponential moving average of G with this decay (e.g. 0.999) and save it; "
                              "the decay ramps up as min(decay, (1 + step) / (10 + step)), so the first weights "
                              "fade out; 0 is off.", LOSS, ge=0, lt=1)
    class_weight: float = setting(1.0, "Conditional models: weight of the class loss of D's class head (AC-GAN): D "
                                       "learns the classes of real images and G is pushed to draw the class asked "
                                       "for; 0 leaves the projection alone.", LOSS, ge=0)
    augment: str = setting("translation", "Differentiable augmentation of every image D sees, real or generated "
                                   "(DiffAugment): translation, cutout, both (translation,cutout) or none.", LOSS,
                           choices=AUGMENTATIONS)
    epochs: int | None = setting(None, "Passes over the data; with --resume, a larger number extends the run.", RUN,
                                 ge=1, le=1_000_000, names=("-e",),
                                 default_help=f"none; with neither, {DEFAULT_STEPS} steps")
    steps: int | None = setting(None, "Generator steps, instead of --epochs; with --resume, a larger number extends "
                                      "the run.", RUN, ge=1, le=100_000_000,
                                default_help=f"{DEFAULT_STEPS} when --epochs is not given")
    batch_size: int = setting(64, "Images per batch.", RUN, ge=1, le=65_536, names=("-b",))
    seed: int = 0  # the global --seed

    BUDGET = ("epochs", "steps")

    def validate(self) -> None:
        check(self)
        if self.epochs is not None and self.steps is not None:
            raise BadValue("steps", self.steps, "give {epochs} or {steps}, not both")
        if self.r1 and LOSSES[self.loss].gradient_penalty:
            raise BadValue("r1", self.r1, f"adds a second gradient penalty to {self.loss}'s own", "give one of them")
        if self.image_size is not None:
            base_and_doublings(self.image_size)

    def with_defaults(self) -> "TrainSpec":
        """The same spec with the defaults that hang on other settings made explicit (as it is saved):
        the budget (DEFAULT_STEPS steps when neither is set) and R1 (DEFAULT_R1, or 0 under a loss
        with its own gradient penalty)."""
        if self.epochs is None and self.steps is None:
            self.steps = DEFAULT_STEPS
        if self.r1 is None:
            self.r1 = 0.0 if LOSSES[self.loss].gradient_penalty else DEFAULT_R1
        return self

    @classmethod
    def merged(cls, explicit: dict, saved: dict | None = None) -> "TrainSpec":
        """Settings given on the command line over the saved run's (on resume) or the defaults.

        On resume, a setting that differs from the saved run is refused (BadValue, naming it),
        except a budget at least as large as the saved one in the same unit: the run goes on to it.
        """
        known = {f.name for f in fields(cls)}
        explicit = {k: v for k, v in explicit.items() if k in known and v is not None}
        if saved is None:
            return cls(**explicit).with_defaults()
        base = cls(**{k: v for k, v in {**BEFORE, **saved}.items() if k in known}).with_defaults().__dict__
        unit = "steps" if base["steps"] is not None else "epochs"
        for k, v in explicit.items():
            if k == "data" or base.get(k) == v:
                continue  # the data is compared by its fingerprint
            if k in cls.BUDGET:
                if k != unit:
                    raise BadValue(k, v, f"this run counts {unit} ({{{unit}}} {base[unit]}); give {{{unit}}} to extend it",
                                   f"or start a new run with another {flag('out')}")
                if v < base[k]:
                    raise BadValue(k, v, f"this run was set to {base[k]} {unit}; a resumed run can go further, not stop "
                                         "sooner", "give a larger value, or none to continue to the same total")
                continue
            raise BadValue(k, v, f"this run was trained with {_shown(base.get(k))}; {{resume}} continues the same run",
                           f"drop the option to continue it, or start a new run with another {flag('out')}")
        base.update(explicit)
        return cls(**base)

    def model_config(self, image_size: int, channels: int, num_classes: int) -> DCGANConfig:
        return DCGANConfig(
            image_size=image_size, channels=channels, nz=self.nz, ngf=self.ngf, ndf=self.ndf,
            num_classes=num_classes if self.conditional else 0,
            g_batch_norm=self.batch_norm,
            d_batch_norm=self.batch_norm and LOSSES[self.loss].d_batch_norm,
            g_activation=self.g_activation, d_activation=self.d_activation,
            spectral_norm=self.spectral_norm, init=self.init,
            class_head=self.conditional and self.class_weight > 0,
        )


@dataclass
class Runtime:
    """How to run, not what to train: free to change between a run and its resume."""

    device: str = "cpu"
    compile: bool = setting(False, "Compile G and D with torch.compile.", RUN, flag="--compile")
    amp: bool | None = setting(None, "bf16 autocast (on the CPU in one process, with the channels-last layout).", RUN,
                               default_help="on with CUDA and on a CPU with bf16 instructions, AVX512-BF16 or AMX")
    channels_last: bool | None = None  # None: on CUDA, and on the CPU under bf16
    sync_batch_norm: bool = setting(False, "Under torchrun: batch norm over the global batch (SyncBatchNorm), as "
                                           "one process computes it; off, each process normalizes its own shard.",
                                    RUN)
    log_every: int = setting(25, "Steps between loss readings (each one syncs the device).", RUN, ge=1)
    sample_every: int | None = setting(None, "Epochs between sample grids.", RUN, ge=1,
                                       default_help="every epoch, but no closer than --log-every steps and "
                                                    "at most 100 grids a run")
    save_every: float = 30.0  # seconds between checkpoints (also written at the end and on a stop)

    def validate(self) -> None:
        check(self)


def _shown(value) -> str:
    return "the default" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
