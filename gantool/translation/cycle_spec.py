"""What a CycleGAN run is (CycleGANSpec): each setting's default, range, choices and help written once.
`gantool train-cyclegan` builds its options from these fields. Torch-free, for --help.
"""

from __future__ import annotations

from dataclasses import dataclass

from gantool.errors import BadValue, flag
from gantool.models.translator_config import MAX_D_LAYERS, NORMS, check_d_layers
from gantool.settings import check, setting
from gantool.translation.spec import DATA, GAN_LOSSES, LOSS, MAX_SIZE, MODEL, RUN, Crops, merged

MAX_POOL = 10_000


@dataclass
class CycleGANSpec(Crops):
    """Everything that defines a CycleGAN run; --resume refuses settings that differ from the saved ones,
    except larger --epochs/--decay-epochs, which extend the run."""

    data: str | None = setting(None, "Unpaired data as one folder in the public CycleGAN layout: trainA/ and "
                                     "trainB/ (testA/ and testB/ beside them feed the grids).", DATA, names=("-d",),
                               default_help="none: give it, or --data-a and --data-b")
    data_a: str | None = setting(None, "Domain A: any image source `gantool train` takes (digits, fashion-mnist, a "
                                       "folder, a .npy/.npz).", DATA, default_help="none")
    data_b: str | None = setting(None, "Domain B, likewise; its size and channels may differ from A's.", DATA,
                                 default_help="none")
    image_size: int | None = setting(None, "Side of the square training crops.", DATA, ge=4, le=MAX_SIZE,
                                     default_help="256, or the smaller domain's side when smaller")
    load_size: int | None = setting(None, "Images are resized to this side before the random crop (the reference's "
                                          "286 for 256 crops).", DATA, ge=4, le=2 * MAX_SIZE,
                                    default_help="1.12 x the crop side with --random-crop, else the crop side")
    random_crop: bool = setting(True, "Random resize-and-crop (jitter): resize to --load-size, crop a random "
                                      "--image-size square, each image on its own.", DATA)
    flip: bool = setting(True, "Random horizontal flips.", DATA)
    ngf: int = setting(64, "Generator width: channels of the ResNet generators' first layer.", MODEL, ge=1, le=1024)
    ndf: int = setting(64, "Discriminator width: channels of the PatchGANs' first layer.", MODEL, ge=1, le=1024)
    n_blocks: int | None = setting(None, "Residual blocks per generator (the paper: 6 for 128x128, 9 for 256x256).",
                                   MODEL, ge=1, le=32, default_help="6 for crops under 256, else 9")
    norm: str = setting("instance", "Normalisation layers of all four networks.", MODEL, choices=NORMS)
    d_layers: int | None = setting(None, "PatchGAN depth: its patches are 16, 34, 70, 142 or 286 pixels for 1 to 5.",
                                   MODEL, ge=1, le=MAX_D_LAYERS, default_help="3 (70x70 patches), fewer for crops "
                                                                              "too small to leave a patch")
    loss: str = setting("lsgan", "GAN loss: lsgan (the reference's), nonsaturating (vanilla) or hinge.", LOSS,
                        choices=GAN_LOSSES)
    cycle_weight: float = setting(10.0, "Weight of each cycle-consistency term, L1(F(G(a)), a) and L1(G(F(b)), b).",
                                  LOSS, ge=0)
    identity: float | None = setting(None, "Identity term L1(G(b), b) + L1(F(a), a), as a share of "
                                           "--cycle-weight (it keeps colours from inverting); 0 turns it off. It needs "
                                           "domains of equal channels.", LOSS, ge=0,
                                     default_help="0.5, or 0 when the domains' channels differ")
    pool_size: int = setting(50, "Generated images each discriminator draws from (a history pool, Shrivastava et "
                                 "al.); 0 turns it off.", LOSS, ge=0, le=MAX_POOL)
    lr: float = setting(2e-4, "Adam learning rate of all four networks.", LOSS, gt=0)
    beta1: float = setting(0.5, "Adam beta1.", LOSS, ge=0, lt=1)
    beta2: float = setting(0.999, "Adam beta2.", LOSS, ge=0, lt=1)
    epochs: int = setting(10, "Epochs at the constant learning rate (an epoch covers the larger domain); with "
                              "--resume, a larger number extends the run.", RUN, ge=0, le=100_000, names=("-e",))
    decay_epochs: int = setting(10, "Then epochs of linear decay to 0.", RUN, ge=0, le=100_000)
    batch_size: int = setting(1, "Images of each domain per batch (the reference's 1).", RUN, ge=1, le=65_536,
                              names=("-b",))
    seed: int = 0  # the global --seed

    BUDGET = ("epochs", "decay_epochs")
    SOURCES = ("data", "data_a", "data_b")

    def validate(self) -> None:
        check(self)
        if self.data is not None and (self.data_a is not None or self.data_b is not None):
            raise BadValue("data", self.data, "is both domains: it contradicts {data_a} and {data_b}",
                           "give one folder holding trainA/ and trainB/, or the two domains")
        if self.data is None and (self.data_a is None or self.data_b is None):
            missing = "data_b" if self.data_a is not None else "data_a"
            raise BadValue(missing, None, "no data for this domain",
                           f"give {flag('data_a')} and {flag('data_b')}, or {flag('data')} with trainA/ and trainB/")
        if self.epochs + self.decay_epochs < 1:
            raise BadValue("epochs", self.epochs, "and {decay_epochs} leave nothing to train")
        if self.d_layers is not None:
            check_d_layers(self.d_layers, self.crop)

    def identity_share(self, same_channels: bool) -> float:
        """The identity term's share of the cycle weight for these domains (see `identity`'s help)."""
        if self.identity is None:
            return 0.5 if same_channels else 0.0
        if self.identity > 0 and not same_channels:
            raise BadValue("identity", self.identity, "needs domains of equal channels: G(b) cannot be compared with "
                                                      "b when A and B differ in channels", "give 0, or leave it out")
        return self.identity

    @classmethod
    def merged(cls, explicit: dict, saved: dict | None = None) -> "CycleGANSpec":
        """As pix2pix's (gantool.translation.spec.merged); on resume one data layout replaces the
        other: --data for the two sources, or one of them for --data."""
        spec = merged(cls, explicit, saved, sources=cls.SOURCES)
        if saved is not None:
            given = {k for k, v in explicit.items() if v is not None}
            if "data" in given:
                spec.data_a = spec.data_a if "data_a" in given else None
                spec.data_b = spec.data_b if "data_b" in given else None
            elif given & {"data_a", "data_b"}:
                spec.data = None
        return spec
