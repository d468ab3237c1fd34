"""The ground the next commands build on: models by name and the one loader (files from 0.1.0
included), settings written once, the command kit, `sample --latents-in`, and the run folder's
--resume/--force lifecycle."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, TINY, one_line_error
from gantool.cli.app import COMMANDS, app
from gantool.data.normalization import Normalization
from gantool.files import modelfile
from gantool.gan.losses import LOSSES
from gantool.gan.spec import Runtime, TrainSpec
from gantool.models import loader, registry
from gantool.settings import settings_of

FIXTURES = ROOT / "tests" / "fixtures"


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- files written by gantool 0.1.0 -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["gan", "cgan"])
def test_files_from_0_1_0_load_and_draw_what_0_1_0_drew(gantool, tmp_path, name):
    model = FIXTURES / f"{name}-0.1.0.safetensors"
    info = json.loads(gantool("--json", "info", model).stdout)
    assert info["version"] == "0.1.0" and "arch" not in info["config"]  # 0.1.0 recorded no arch
    assert info["architecture"].startswith("DCGAN")
    loaded = loader.load(model)
    assert loaded.arch.name == "dcgan" and loaded.normalization == Normalization.range(-1, 1)
    # the latents 0.1.0's `sample` wrote, drawn again by this gantool: the same picture
    r = gantool("sample", "-m", model, "--latents-in", FIXTURES / f"{name}-0.1.0-latents.npy",
                "-o", tmp_path / "again.png", "--nrow", "1" if name == "cgan" else "2", "-q")  # as 0.1.0 laid them out
    assert r.code == 0, r.stderr
    old = np.asarray(Image.open(FIXTURES / f"{name}-0.1.0-grid.png"), dtype=int)
    new = np.asarray(Image.open(tmp_path / "again.png"), dtype=int)
    assert old.shape == new.shape and np.abs(old - new).max() <= 1  # [-1,1] -> 8 bits, rounded the same way


def test_a_0_1_0_run_resumes_and_extends(gantool, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "run-0.1.0", run)
    r = gantool("train", "--out", run, "--resume", "--steps", "8", "-q", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["steps"] == 8
    info = json.loads(gantool("--json", "info", run / "model.safetensors").stdout)
    assert info["config"]["arch"] == "dcgan" and info["training"]["steps"] == 8


# ---- the registry and the loader -------------------------------------------------------------------

@pytest.mark.parametrize("name", registry.names())
def test_every_architecture_saves_loads_and_describes_itself(tmp_path, name):
    arch = registry.get(name)
    config = arch.config()
    config.validate()
    nets = arch.build(config)
    assert config.to_dict()["arch"] == name and arch.config.from_dict(config.to_dict()) == config
    tensors = {f"{role}.{k}": v for role, net in nets.items() for k, v in net.state_dict().items()}
    path = tmp_path / "m.safetensors"
    modelfile.save(path, arch.kind, tensors, config.to_dict(), {"normalization": {"range": [-1, 1]}}, {})
    loaded = loader.load(path)
    assert set(loaded.nets) == set(nets) and arch.describe(loaded.config)
    for role, net in nets.items():
        for k, v in net.state_dict().items():
            assert torch.equal(loaded[role].state_dict()[k], v), (role, k)


def _with_config(src: Path, dst: Path, **changes) -> Path:
    """A copy of a model file whose gantool.config says something else (the tensors unchanged)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta["gantool.config"])
    config.update(changes)
    meta["gantool.config"] = json.dumps(config)
    save_file(tensors, str(dst), metadata=meta)
    return dst


def test_a_crafted_header_allocates_nothing(gantool, tmp_path, tiny_gan):
    """0.1.0 built the networks a header asked for before looking at the tensors: image_size 65536
    asked for 137 GB. Now the config is checked and the shapes are compared on the meta device."""
    huge = _with_config(tiny_gan, tmp_path / "huge.safetensors", image_size=65536)
    t0 = time.monotonic()
    line = one_line_error(gantool("sample", "-m", huge, "-n", "1", "-o", tmp_path / "g.png"), "sample")
    assert "image_size" in line and time.monotonic() - t0 < 10
    wide = _with_config(tiny_gan, tmp_path / "wide.safetensors", ngf=4096)  # buildable, but not these tensors
    line = one_line_error(gantool("sample", "-m", wide, "-n", "1", "-o", tmp_path / "g.png"), "sample")
    assert "do not match its config" in line and "generator." in line
    typo = _with_config(tiny_gan, tmp_path / "typo.safetensors", nz="8")
    assert "nz" in one_line_error(gantool("sample", "-m", typo, "-n", "1", "-o", tmp_path / "g.png"), "sample")
    assert not (tmp_path / "g.png").exists()
    # info still shows what such a file says
    r = gantool("info", huge)
    assert r.code == 0 and "not buildable here" in r.text


def test_unknown_architecture(gantool, tmp_path, tiny_gan):
    odd = _with_config(tiny_gan, tmp_path / "odd.safetensors", arch="transformer-9000")
    line = one_line_error(gantool("sample", "-m", odd, "-n", "1", "-o", tmp_path / "g.png"), "sample")
    assert "transformer-9000" in line and "dcgan" in line


@pytest.mark.parametrize("norm", [Normalization.range(-1, 1), Normalization.range(0, 1),
                                  Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
def test_normalization_is_data_that_round_trips(norm):
    assert Normalization.from_dict(json.loads(json.dumps(norm.to_dict()))) == norm
    x = torch.rand(2, len(norm.mean) if len(norm.mean) > 1 else 1, 4, 4)
    assert torch.allclose(norm.from_model(norm.to_model(x)), x, atol=1e-6)
    assert Normalization.from_dict("[-1, 1]: x / 127.5 - 1") == Normalization.range(-1, 1)  # 0.1.0's string


# ---- settings written once ---------------------------------------------------------------------------

def _train_options() -> dict:
    import typer

    cmd = typer.main.get_command(app).commands["train"]
    return {p.name: p for p in cmd.params}


@pytest.mark.parametrize("cls", [TrainSpec, Runtime])
def test_every_setting_is_an_option_with_its_help_default_and_choices(cls):
    options = _train_options()
    for name, s, default, _ in settings_of(cls):
        p = options[name]
        assert s.help.split(" (")[0].rstrip(".") in p.help, name
        shown = s.default_help or (("on" if default else "off") if isinstance(default, bool) else default)
        if shown is not None:
            assert f"(default: {shown})" in p.help, name
        if s.choices:
            assert tuple(c for c in p.type_descriptor.choices) == s.choices, name
    assert tuple(options["loss"].type_descriptor.choices) == tuple(LOSSES)  # the loss objects are the list


@pytest.mark.parametrize("args, field, flag", [
    (["--lr-g", "0"], "lr_g", "--lr-g"), (["--beta2", "1"], "beta2", "--beta2"), (["--ema", "1.5"], "ema", "--ema"),
    (["--label-smoothing", "0"], "label_smoothing", "--label-smoothing"), (["--nz", "0"], "nz", "--nz"),
])
def test_a_range_is_checked_once_named_as_the_flag_by_the_cli(gantool, tmp_path, args, field, flag):
    line = one_line_error(gantool("train", "--out", tmp_path / "run", *args), "train", code=2)
    assert line.startswith(f"gantool train: error: {flag} ")
    value = float(args[1]) if "." in args[1] or field != "nz" else int(args[1])
    with pytest.raises(Exception) as e:  # the library names the field
        TrainSpec(**{field: value}).validate()
    assert e.value.field == field and str(e.value).startswith(f"{field} ")
    assert not (tmp_path / "run").exists()


# ---- the command kit ----------------------------------------------------------------------------------

def test_a_command_is_a_module_plus_one_line():
    modules = sorted(p.stem for p in (ROOT / "gantool" / "cli").glob("*.py")
                     if p.stem not in ("__init__", "app", "kit", "search"))  # search: what invert and restore share
    assert sorted(COMMANDS) == modules
    import typer

    root = typer.main.get_command(app)
    for name in COMMANDS:
        cmd = root.commands[name.replace("_", "-")]
        names = {o for p in cmd.params for o in getattr(p, "opts", [])}
        assert {"--device", "--seed", "--threads", "--quiet", "--json", "--debug"} <= names, name  # from the kit


def test_man_pages_are_installed_with_the_package():
    import shutil as sh
    import subprocess
    import sys

    installed = Path(sys.prefix) / "share" / "man" / "man1"
    for page in (ROOT / "man").glob("*.1"):
        assert (installed / page.name).read_bytes() == page.read_bytes(), f"{page.name}: run `make install`"
    if sh.which("man"):
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": "/nonexistent"}
        r = subprocess.run(["man", "-w", "gantool"], capture_output=True, text=True, env=env)
        assert r.returncode == 0 and r.stdout.strip() == str(installed / "gantool.1"), r.stderr


# ---- sample --latents-in -------------------------------------------------------------------------------

def test_latents_come_back_to_pictures(gantool, tmp_path, tiny_gan):
    first = gantool("sample", "-m", tiny_gan, "-n", "6", "--seed", "4", "-o", tmp_path / "a.png", "--latents", "-")
    assert first.code == 0, first.stderr
    again = gantool("sample", "-m", tiny_gan, "--latents-in", "-", "-o", tmp_path / "b.png", stdin=first.stdout)
    assert again.code == 0, again.stderr
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert "drew 6 images (from <stdin>)" in again.stderr
    # latents pass through to the next command unchanged
    through = gantool("sample", "-m", tiny_gan, "--latents-in", "-", "--latents", "-", "-q", stdin=first.stdout)
    np.testing.assert_array_equal(np.load(io.BytesIO(through.stdout)), np.load(io.BytesIO(first.stdout)))


def test_latents_in_refusals(gantool, tmp_path, tiny_gan, tiny_cgan):
    z = tmp_path / "z.npy"
    np.save(z, np.zeros((3, 8), np.float32))
    line = one_line_error(gantool("sample", "-m", tiny_cgan, "--latents-in", z, "-o", tmp_path / "g.png"), "sample")
    assert "8 values per latent" in line and "18" in line  # bad contents: 1
    line = one_line_error(gantool("sample", "-m", tiny_gan, "--latents-in", z, "-n", "3", "-o", tmp_path / "g.png"),
                          "sample", code=2)
    assert "-n" in line
    one_line_error(gantool("sample", "-m", tiny_gan, "--latents-in", "-", "-o", tmp_path / "g.png", stdin_tty=True),
                   "sample", code=2)
    assert not (tmp_path / "g.png").exists()


# ---- the run folder: resume further, --force keeps the old run until the new one's first checkpoint -----

def test_resume_extends_a_run_to_the_same_weights_as_one_long_run(gantool, tmp_path):
    """At constant rates (the default linear decay follows each budget's own curve)."""
    common = ["--seed", "3", "--log-every", "1", "--lr-decay", "none", *TINY]
    assert gantool("train", "--out", tmp_path / "long", "--steps", "8", *common).code == 0
    assert gantool("train", "--out", tmp_path / "grown", "--steps", "5", *common).code == 0
    r = gantool("train", "--out", tmp_path / "grown", "--resume", "--steps", "8", "--log-every", "1")
    assert r.code == 0, r.stderr
    from safetensors.torch import load_file

    a, b = load_file(tmp_path / "long" / "model.safetensors"), load_file(tmp_path / "grown" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    line = one_line_error(gantool("train", "--out", tmp_path / "grown", "--resume", "--steps", "4"), "train", code=2)
    assert "--steps 4" in line and "8" in line


def test_force_that_fails_before_its_first_checkpoint_leaves_the_old_run(gantool, tmp_path, tiny_gan):
    old = tmp_path / "old"
    shutil.copytree(tiny_gan.parent, old)
    before = snapshot(old)
    r = gantool("train", "--out", old, "--force", "--steps", "40", "--loss", "lsgan", "--lr-d", "1e30",
                "--lr-g", "1e30", "--no-batch-norm", "--log-every", "1", *TINY)
    assert "non-finite" in one_line_error(r, "train") and "no checkpoint was written" in r.stderr
    assert snapshot(old) == before


def test_force_replaces_the_old_run_whole_once_it_has_a_checkpoint(gantool, tmp_path, tiny_gan):
    old = tmp_path / "old"
    shutil.copytree(tiny_gan.parent, old)
    (old / "samples" / "epoch-0099.png").write_bytes(b"an old grid")
    r = gantool("train", "--out", old, "--force", "--steps", "2", "--seed", "1", *TINY)
    assert r.code == 0, r.stderr
    assert not (old / "samples" / "epoch-0099.png").exists()  # the old run's grids are gone with it
    rows = (old / "losses.csv").read_text().splitlines()
    assert int(rows[-1].split(",")[0]) == 2 and len(rows) == 2  # only the new run's losses
