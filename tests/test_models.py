"""DCGAN architectures over the supported sizes, channels and options, rebuilt from config alone."""

from __future__ import annotations

import pytest
import torch

from gantool.errors import BadValue
from gantool.models.dcgan import DCGANConfig, Discriminator, Generator
from gantool.models.dcgan_config import base_and_doublings, supported_size_at_least


@pytest.mark.parametrize("size", [16, 28, 32, 56, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("classes", [0, 4])
def test_shapes(size, channels, classes):
    cfg = DCGANConfig(image_size=size, channels=channels, nz=8, ngf=4, ndf=4, num_classes=classes)
    G, D = Generator(cfg), Discriminator(cfg)
    x = G(torch.randn(3, cfg.latent_dim))
    assert x.shape == (3, channels, size, size) and x.abs().max() <= 1
    labels = torch.tensor([0, 1, 3]) if classes else None
    assert D(x, labels).shape == (3,)


def test_28_is_7_14_28_as_in_the_keras_tutorial():
    G = Generator(DCGANConfig(image_size=28, nz=8, ngf=4, ndf=4))
    sizes, x = [], torch.randn(2, 8)[:, :, None, None]
    for layer in G.main:
        x = layer(x)
        if isinstance(layer, torch.nn.ConvTranspose2d):
            sizes.append(x.shape[-1])
    assert sizes == [7, 14, 28]


def test_64_is_the_reference_dcgan():
    G = Generator(DCGANConfig(image_size=64, channels=3, nz=100, ngf=64, ndf=64))
    D = Discriminator(DCGANConfig(image_size=64, channels=3, nz=100, ngf=64, ndf=64))
    # PyTorch's examples/dcgan/main.py netG and netD have 3,576,704 and 2,765,568 parameters with
    # bias-free convs; ours keep a bias where no batch norm follows (G's output, D's first and last conv)
    assert sum(p.numel() for p in G.parameters()) == 3576704 + 3
    assert sum(p.numel() for p in D.parameters()) == 2765568 + 64 + 1


@pytest.mark.parametrize("size", [0, 8, 20, 24, 30, 48, 100])
def test_unsupported_sizes_are_refused(size):
    with pytest.raises(BadValue, match="not a DCGAN size"):
        base_and_doublings(size)


def test_next_supported_size():
    assert [supported_size_at_least(s) for s in (8, 16, 20, 28, 29, 33, 100)] == [16, 16, 28, 28, 32, 56, 112]


def test_options_change_the_layers():
    plain = DCGANConfig(image_size=16, nz=4, ngf=4, ndf=4)
    no_bn = Discriminator(DCGANConfig(image_size=16, nz=4, ngf=4, ndf=4, d_batch_norm=False))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in no_bn.modules())
    sn = Discriminator(DCGANConfig(image_size=16, nz=4, ngf=4, ndf=4, spectral_norm=True))
    assert any("parametrizations" in k for k in sn.state_dict())
    leaky = Generator(DCGANConfig(image_size=16, nz=4, ngf=4, ndf=4, g_activation="leaky-relu"))
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in leaky.modules())
    torch.manual_seed(0)
    w = Generator(plain).main[0].weight
    assert abs(w.std().item() - 0.02) < 0.005  # dcgan init: N(0, 0.02)
    torch.manual_seed(0)
    w = Generator(DCGANConfig(image_size=16, nz=4, ngf=4, ndf=4, init="default")).main[0].weight
    assert abs(w.std().item() - 0.02) > 0.01


def test_config_round_trips_through_plain_data():
    cfg = DCGANConfig(image_size=32, channels=3, num_classes=5, spectral_norm=True)
    assert DCGANConfig.from_dict(cfg.to_dict()) == cfg
