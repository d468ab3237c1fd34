"""The defects a new user hit in saliency, adversarial, visualize-class, classify and layers (issue
16), each pinned by a test: --out-dir collisions and inputs overwritten, no grid on stdout by
default, an attack "succeeding" on an image already of its target, --init-image -, layers' -m and
stdin, -l for a layer, JSON lines; and the work importable without the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import held_out_digits, one_line_error

ONE = ["--threads", "1"]  # another torch process may share the 2 cores


@pytest.fixture
def two_folders(tmp_path):
    """a/d0.png and b/d0.png: two different digits with the same file name."""
    images, _ = held_out_digits(2)
    for folder, image in zip("ab", images):
        (tmp_path / folder).mkdir()
        Image.fromarray(image).save(tmp_path / folder / "d0.png")
    return tmp_path / "a", tmp_path / "b"


@pytest.mark.parametrize("command, argv", [("saliency", []), ("adversarial", ["--method", "fgsm", "--eps", "0.2"])])
def test_out_dir_names_that_collide_are_refused_before_any_work(command, argv, two_folders, digits_classifier,
                                                                gantool, tmp_path):
    a, b = two_folders
    line = one_line_error(gantool(*ONE, command, a, b, "-m", digits_classifier, *argv, "--out-dir", tmp_path / "o"),
                          command, 2)
    assert str(a / "d0.png") in line and str(b / "d0.png") in line
    assert not (tmp_path / "o").exists()
    # one folder at a time is fine: one set of files per image
    r = gantool(*ONE, "--json", command, a, "-m", digits_classifier, *argv, "--out-dir", tmp_path / "o")
    assert r.code == 0, r.stderr
    assert len(r.text.splitlines()) == 1 and len(list((tmp_path / "o").iterdir())) == (3 if command == "saliency" else 2)


def test_a_batch_and_an_image_that_would_share_a_map_file_are_refused(digits_classifier, gantool, tmp_path):
    """saliency writes NAME.npy, NAME-heatmap.png and NAME-overlay.png: each of them is planned."""
    images, _ = held_out_digits(2)
    Image.fromarray(images[0]).save(tmp_path / "x.png")
    (tmp_path / "in").mkdir()
    Image.fromarray(images[1]).save(tmp_path / "in" / "x.png")
    line = one_line_error(gantool(*ONE, "saliency", tmp_path / "x.png", tmp_path / "in", "-m", digits_classifier,
                                  "--out-dir", tmp_path / "o"), "saliency", 2)
    assert "x.npy" in line


def test_adversarial_out_dir_that_is_the_input_folder_leaves_the_input_alone(two_folders, digits_classifier, gantool):
    a, _ = two_folders
    before = (a / "d0.png").read_bytes()
    line = one_line_error(gantool(*ONE, "adversarial", a, "-m", digits_classifier, "--method", "fgsm", "--eps", "0.3",
                                  "--out-dir", a), "adversarial", 2)
    assert "is also an input" in line and "d0.png" in line
    assert (a / "d0.png").read_bytes() == before
    assert sorted(p.name for p in a.iterdir()) == ["d0.png"]


@pytest.mark.parametrize("command", ["saliency", "adversarial"])
def test_no_grid_on_stdout_without_an_output(command, two_folders, digits_classifier, gantool):
    a, _ = two_folders
    r = gantool(*ONE, command, a, "-m", digits_classifier)  # stdout is a pipe: it used to get a PNG grid
    line = one_line_error(r, command, 2)
    assert "no output named" in line and "--out-dir" in line and "-o" in line
    assert r.stdout == b""
    ok = gantool(*ONE, command, a, "-m", digits_classifier, "-o", "-")  # asked for by name, it still goes there
    assert ok.code == 0 and ok.stdout.startswith(b"\x89PNG")


def test_an_image_already_of_the_target_class_is_no_success(digits_classifier, gantool, tmp_path):
    images, labels = held_out_digits(4)  # 1, 4, 8, 6: the first is already a 1
    np.save(tmp_path / "four.npy", images)
    for argv in (["--method", "gradient-ascent"], ["--method", "pgd", "--eps", "0.3", "--steps", "10"]):
        r = gantool(*ONE, "--json", "adversarial", tmp_path / "four.npy", "-m", digits_classifier, *argv,
                    "--target", "1", "--out-dir", tmp_path / argv[1])
        assert r.code == 0, r.stderr
        rows = [json.loads(line) for line in r.text.splitlines()]
        first = rows[0]
        assert first["original"] == "1" and first["already_target"] is True
        assert first["success"] is False and first["saved_success"] is False
        assert first["steps"] == 0 and first["linf"] == 0 and first["first_fooled_at"] is None
        assert np.array_equal(np.array(Image.open(first["files"]["adversarial"])), images[0])  # left as it was
        assert not any(row["already_target"] for row in rows[1:])
        ok = sum(row["success"] for row in rows[1:])
        assert f"success {ok / 3:.1%} ({ok}/3)" in r.stderr and "1 already the target, not attacked" in r.stderr
    table = gantool(*ONE, "adversarial", tmp_path / "four.npy", "-m", digits_classifier, "--method", "gradient-ascent",
                    "--target", "1", "-o", tmp_path / "grid.png")
    assert table.code == 0 and "already" in table.text.splitlines()[3]


def test_visualize_class_init_image_from_stdin(digits_classifier, gantool, tmp_path):
    Image.fromarray(held_out_digits(1)[0][0]).save(tmp_path / "start.png")
    args = [*ONE, "--json", "visualize-class", "-m", digits_classifier, "--target", "5", "--steps", "20"]
    from_file = gantool(*args, "--init-image", tmp_path / "start.png", "-o", tmp_path / "file.png")
    piped = gantool(*args, "--init-image", "-", "-o", tmp_path / "piped.png", stdin=(tmp_path / "start.png").read_bytes())
    assert piped.code == 0, piped.stderr
    assert json.loads(piped.text) == json.loads(from_file.text)  # the same start, the same result
    assert (tmp_path / "piped.png").read_bytes() == (tmp_path / "file.png").read_bytes()
    line = one_line_error(gantool(*args, "--init-image", "-", "-o", tmp_path / "x.png", stdin_tty=True),
                          "visualize-class", 2)
    assert "terminal" in line


def test_visualize_class_json_lines_one_per_class(digits_classifier, gantool, tmp_path):
    r = gantool(*ONE, "--json", "visualize-class", "-m", digits_classifier, "--target", "1,2,3", "--steps", "5",
                "--frames", "2", "-o", tmp_path / "x.png")
    assert r.code == 0, r.stderr
    assert [json.loads(line)["target"] for line in r.text.splitlines()] == ["1", "2", "3"]
    one_line_error(gantool(*ONE, "visualize-class", "-m", digits_classifier, "--target", "1", "--frames", "1",
                           "-o", tmp_path / "y.png"), "visualize-class", 2)


def test_layers_takes_m_the_argument_gantool_model_and_stdin(digits_classifier, gantool, monkeypatch):
    names = lambda r: [json.loads(line)["name"] for line in r.text.splitlines()]  # noqa: E731
    positional = gantool(*ONE, "--json", "layers", digits_classifier)
    assert positional.code == 0, positional.stderr
    assert names(gantool(*ONE, "--json", "layers", "-m", digits_classifier)) == names(positional)
    assert names(gantool(*ONE, "--json", "layers", "--model", digits_classifier)) == names(positional)
    piped = gantool(*ONE, "--json", "layers", "-", stdin=digits_classifier.read_bytes())
    assert piped.code == 0, piped.stderr
    assert names(piped) == names(positional) and "<stdin>: input 1x8x8" in piped.stderr
    assert names(gantool(*ONE, "--json", "layers", "-m", "-", stdin=digits_classifier.read_bytes())) == names(positional)
    line = one_line_error(gantool(*ONE, "layers", "-", stdin=b"not a model at all"), "layers", 1)
    assert "<stdin>" in line and "/tmp" not in line.split("<stdin>")[0]
    line = one_line_error(gantool(*ONE, "layers", "resnet18", "-m", digits_classifier), "layers", 2)
    assert "two models" in line
    assert "no model given" in one_line_error(gantool(*ONE, "layers"), "layers", 2)
    monkeypatch.setenv("GANTOOL_MODEL", str(digits_classifier))
    assert names(gantool(*ONE, "--json", "layers")) == names(positional)
    resnet = gantool(*ONE, "--json", "layers", "resnet18")  # a model given beats the variable
    assert resnet.code == 0 and "layer4" in names(resnet)


def test_saliency_takes_l_for_the_layer(digits_classifier, gantool, tmp_path):
    images, _ = held_out_digits(2)
    np.save(tmp_path / "two.npy", images)
    r = gantool(*ONE, "saliency", tmp_path / "two.npy", "-m", digits_classifier, "--method", "grad-cam", "-l", "block1",
                "--out-dir", tmp_path / "o")
    assert r.code == 0, r.stderr
    assert r.stderr.startswith("grad-cam on layer block1")
    line = one_line_error(gantool(*ONE, "saliency", tmp_path / "two.npy", "-m", digits_classifier, "-l", "block1",
                                  "--out-dir", tmp_path / "p"), "saliency", 2)
    assert "--layer is for --method grad-cam" in line


def test_the_work_runs_without_the_cli(digits_classifier, tmp_path):
    """gantool.explain.jobs: chunks in, rows and files out, as the commands use it."""
    from gantool.classify.classifiers import TopK, layer_rows, load_classifier
    from gantool.data.inputs import ImageChunks
    from gantool.explain import jobs
    from gantool.explain.settings import AttackSettings, SaliencySettings

    torch.set_num_threads(1)
    images, labels = held_out_digits(5)
    np.save(tmp_path / "five.npy", images)
    clf = load_classifier(str(digits_classifier))
    chunks = ImageChunks([str(tmp_path / "five.npy")])
    stems = chunks.plan_files(tmp_path / "maps", tuple(jobs.SALIENCY_FILES.values()), "maps")
    job = jobs.SaliencyJob.start(clf, "cpu", SaliencySettings(), 0, out_dir=tmp_path / "maps", stems=stems, grid=True)
    rows = [row for part in jobs.run(chunks, job) for row in part]
    assert [row["image"] for row in rows] == [f"five[{i}]" for i in range(5)]
    assert sorted(p.name for p in (tmp_path / "maps").iterdir())[:3] == ["five[0]-heatmap.png", "five[0]-overlay.png",
                                                                         "five[0].npy"]
    assert job.grid_png().startswith(b"\x89PNG")
    attack = jobs.AttackJob.start(clf, "cpu", AttackSettings(method="fgsm", eps=0.3), 0)
    attacked = [row for part in jobs.run(ImageChunks([str(tmp_path / "five.npy")]), attack) for row in part]
    assert "success" in jobs.attack_summary(attack.settings, attacked, clf.name)
    top = [row for part in jobs.run(ImageChunks([str(tmp_path / "five.npy")]), TopK(clf, "cpu", 2)) for row in part]
    assert all(len(row["top"]) == 2 for row in top)
    assert sum(row["head"] for row in layer_rows(clf)) == 1
