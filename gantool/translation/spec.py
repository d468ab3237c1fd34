"""What a pix2pix run is (Pix2PixSpec): each setting's default, range, choices and help written once.
`gantool train-pix2pix` builds its options from these fields (the damage options of a restorer come
from gantool.latent.restore.Damage, as `gantool restore` has them). Torch-free, for --help.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from gantool.errors import BadValue, flag
from gantool.models.translator_config import MAX_D_LAYERS, NORMS, TASKS, check_d_layers, largest_d_layers
from gantool.settings import check, setting

DATA, MODEL, LOSS, RUN = "Data", "Model", "Loss and optimiser", "Run"
GAN_LOSSES = ("nonsaturating", "lsgan", "hinge")  # gantool.gan.losses: the reference's vanilla, lsgan, and hinge
DIRECTIONS = ("a2b", "b2a")
MAX_SIZE = 1024


class Crops:
    """The crop and load sides and the PatchGAN's depth, for a spec with image_size, load_size,
    random_crop and d_layers (pix2pix's and CycleGAN's)."""

    @property
    def crop(self) -> int:
        return self.image_size or 256

    def sizes(self, data_side: int) -> tuple[int, int]:
        """(crop, load) sides for data whose images are `data_side` on their shorter side."""
        crop = self.image_size or min(256, data_side)
        load = self.load_size or (max(crop, round(crop * 1.12)) if self.random_crop else crop)
        if load < crop:
            raise BadValue("load_size", load, f"is smaller than the {crop}-pixel crops")
        return crop, load

    def patch_layers(self, crop: int) -> int:
        if self.d_layers is None:
            return largest_d_layers(crop)
        check_d_layers(self.d_layers, crop)
        return self.d_layers


def merged(cls, explicit: dict, saved: dict | None = None, sources: tuple[str, ...] = ("data",)):
    """A spec of `cls` from the settings given on the line over the saved run's (on resume) or the
    defaults. On resume a differing setting is refused (BadValue, naming it), except a budget
    (`cls.BUDGET`) at least as large as the saved one; the data (`sources`) is compared by its
    fingerprint, not here."""
    known = {f.name for f in fields(cls)}
    explicit = {k: v for k, v in explicit.items() if k in known and v is not None}
    if saved is None:
        return cls(**explicit)
    base = cls(**{k: v for k, v in saved.items() if k in known}).__dict__
    for k, v in explicit.items():
        if k in sources or base.get(k) == v:
            continue
        if k in cls.BUDGET and v >= base[k]:
            continue
        why = (f"this run was set to {base[k]}; a resumed run can go further, not stop sooner" if k in cls.BUDGET
               else f"this run was trained with {base.get(k)}; {{resume}} continues the same run")
        raise BadValue(k, v, why, f"drop the option to continue it, or start a new run with another {flag('out')}")
    return cls(**{**base, **explicit})


@dataclass
class Pix2PixSpec(Crops):
    """Everything that defines a pix2pix run; --resume refuses settings that differ from the saved ones,
    except larger --epochs/--decay-epochs, which extend the run."""

    data: str | None = setting(None, "Paired data: a folder holding A/ and B/ with the same file names, or a folder "
                               "of side-by-side AB images (the public pix2pix sets; train/ and val/ or test/ "
                               "inside are used as such). With --task colorize or restore: any image source "
                               "`gantool train` takes (digits, fashion-mnist, a folder, a .npy/.npz).", DATA,
                               names=("-d",), default_help="none: required")
    task: str = setting("paired", "paired: translate A into B; colorize: L to a*b* (L*a*b*, kornia), pairs made from "
                                  "colour images; restore: damaged to clean, pairs made by the damage options.", DATA,
                        choices=TASKS)
    direction: str = setting("a2b", "Paired data: a2b translates A into B, b2a the other way.", DATA,
                             choices=DIRECTIONS)
    image_size: int | None = setting(None, "Side of the square training crops.", DATA, ge=4, le=MAX_SIZE,
                                     default_help="256, or the data's side when smaller")
    load_size: int | None = setting(None, "Images are resized to this side before the random crop (the reference's "
                                          "286 for 256 crops).", DATA, ge=4, le=2 * MAX_SIZE,
                                    default_help="1.12 x the crop side with --random-crop, else the crop side")
    random_crop: bool = setting(True, "Random resize-and-crop (jitter): resize to --load-size, crop a random "
                                      "--image-size square.", DATA)
    flip: bool = setting(True, "Random horizontal flips of each pair.", DATA)
    ngf: int = setting(64, "Generator width: channels of the U-Net's first layer.", MODEL, ge=1, le=1024)
    ndf: int = setting(64, "Discriminator width: channels of the PatchGAN's first layer.", MODEL, ge=1, le=1024)
    norm: str = setting("batch", "Normalisation layers of both networks.", MODEL, choices=NORMS)
    dropout: float = setting(0.5, "Dropout in the three decoder blocks nearest the bottleneck (off at apply time).",
                             MODEL, ge=0, lt=1)
    d_layers: int | None = setting(None, "PatchGAN depth: its patches are 16, 34, 70, 142 or 286 pixels for 1 to 5.",
                                   MODEL, ge=1, le=MAX_D_LAYERS, default_help="3 (70x70 patches), fewer for crops "
                                                                              "too small to leave a patch")
    loss: str = setting("nonsaturating", "GAN loss: nonsaturating (the reference's vanilla), lsgan or hinge.", LOSS,
                        choices=GAN_LOSSES)
    gan_weight: float = setting(1.0, "Weight of the GAN term; 0 trains the plain L1 regression baseline (no D).",
                                LOSS, ge=0)
    l1_weight: float = setting(100.0, "Weight of the L1 term.", LOSS, ge=0)
    label_smoothing: float = setting(1.0, "Target for real pairs, e.g. 0.9 (one-sided smoothing).", LOSS, gt=0, le=1)
    lr: float = setting(2e-4, "Adam learning rate of G and D.", LOSS, gt=0)
    beta1: float = setting(0.5, "Adam beta1.", LOSS, ge=0, lt=1)
    beta2: float = setting(0.999, "Adam beta2.", LOSS, ge=0, lt=1)
    epochs: int = setting(10, "Epochs at the constant learning rate; with --resume, a larger number extends the run.",
                          RUN, ge=0, le=100_000, names=("-e",))
    decay_epochs: int = setting(10, "Then epochs of linear decay to 0.", RUN, ge=0, le=100_000)
    batch_size: int = setting(16, "Pairs per batch (the reference uses 1).", RUN, ge=1, le=65_536, names=("-b",))
    seed: int = 0  # the global --seed

    BUDGET = ("epochs", "decay_epochs")

    def validate(self) -> None:
        check(self)
        if self.data is None:
            raise BadValue("data", None, "no training data given", "name A/B folders, AB images or an image source")
        if self.epochs + self.decay_epochs < 1:
            raise BadValue("epochs", self.epochs, "and {decay_epochs} leave nothing to train")
        if self.gan_weight == 0 and self.l1_weight == 0:
            raise BadValue("l1_weight", 0, "and {gan_weight} 0 leave no loss")
        if self.direction != "a2b" and self.task != "paired":
            raise BadValue("direction", self.direction, f"is for paired data; {self.task} pairs are made one way")
        if self.d_layers is not None:
            check_d_layers(self.d_layers, self.crop)

    @classmethod
    def merged(cls, explicit: dict, saved: dict | None = None) -> "Pix2PixSpec":
        return merged(cls, explicit, saved)
