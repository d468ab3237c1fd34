"""extract-features and svm hardening (issue 16): outputs never over inputs, bounded C and fits that
answer Ctrl-C/SIGTERM, a full disk in one line, checks before any work, stdin, options per action."""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import PYTHON, one_line_error, run_gantool, subprocess_env

ONE = ("--threads", "1")


def _features(path, n=120, dims=6, labelled=True, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    x = (rng.normal(size=(n, dims)) + 3 * np.eye(3)[labels].repeat(dims // 3 + 1, axis=1)[:, :dims]).astype(np.float32)
    with open(path, "wb") as f:  # np.savez(name) would add .npz to any other name
        np.savez(f, features=x, labels=(labels if labelled else np.full(n, -1)).astype(np.int64),
                 classes=np.array(["a", "b", "c"] if labelled else [], dtype=str),
                 paths=np.array([f"r{i}" for i in range(n)]))
    return path


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    path = tmp_path_factory.mktemp("clf") / "digits.safetensors"
    r = run_gantool("--seed", "0", *ONE, "-q", "train-classifier", "--epochs", "1", "-o", path)
    assert r.code == 0, r.stderr
    return path


# ---- 1. no output over an input -----------------------------------------------------------------

def test_svm_train_refuses_a_model_over_its_features_and_leaves_them_untouched(tmp_path):
    # old: `svm train f -o f` replaced the features with the model
    feats = _features(tmp_path / "f.safetensors")  # a .npz whatever its name: only the claim can refuse it
    before = feats.read_bytes()
    line = one_line_error(run_gantool(*ONE, "svm", "train", feats, "-o", feats), "svm", 2)
    assert "also an input" in line
    assert feats.read_bytes() == before
    npz = _features(tmp_path / "g.npz")
    one_line_error(run_gantool(*ONE, "svm", "train", npz, "-o", npz), "svm", 2)
    assert np.load(npz, allow_pickle=False)["features"].shape == (120, 6)


def test_svm_confusion_png_may_not_be_an_input(tmp_path):
    feats = _features(tmp_path / "f.png")
    before = feats.read_bytes()
    r = run_gantool(*ONE, "svm", "train", feats, "-o", tmp_path / "m.safetensors", "--confusion", feats)
    assert "also an input" in one_line_error(r, "svm", 2)
    assert feats.read_bytes() == before and not (tmp_path / "m.safetensors").exists()
    other = _features(tmp_path / "o.npz")
    assert run_gantool(*ONE, "-q", "svm", "train", other, "-o", tmp_path / "m.safetensors").code == 0
    r = run_gantool(*ONE, "svm", "evaluate", feats, "-m", tmp_path / "m.safetensors", "--confusion", feats)
    one_line_error(r, "svm", 2)
    assert feats.read_bytes() == before


def test_extract_features_refuses_an_output_over_its_images(classifier, tmp_path):
    images = (np.random.default_rng(0).random((4, 8, 8)) * 255).astype(np.uint8)
    np.savez(tmp_path / "x.npz", images=images)
    before = (tmp_path / "x.npz").read_bytes()
    r = run_gantool(*ONE, "extract-features", tmp_path / "x.npz", "-m", classifier, "-o", tmp_path / "x.npz")
    assert "also an input" in one_line_error(r, "extract-features", 2)
    assert (tmp_path / "x.npz").read_bytes() == before


# ---- 2. C bounded, every fit answers signals ----------------------------------------------------

@pytest.mark.parametrize("c", ["1e200", "1e300", "1e7", "1e-9", "nan"])
def test_svm_c_out_of_range_is_refused_up_front_with_the_limit(tmp_path, c):
    # old: 1e200 spun at 100% CPU for ever
    from gantool.errors import BadValue
    from gantool.transfer.svm import Recipe

    with pytest.raises(BadValue):
        Recipe(C=f"1,{c}").validate()
    line = one_line_error(run_gantool("svm", "train", _features(tmp_path / "f.npz"), "--C", f"1,{c}",
                                      "-o", tmp_path / "m.safetensors"), "svm", 2)
    assert line.startswith(f"gantool svm: error: --C 1,{c}: ") and "1e+06" in line and "1e-06" in line


def test_liblinear_and_libsvm_iterations_are_bounded():
    from gantool.transfer import svm

    recipe = svm.Recipe()
    assert svm.pipeline(recipe, 1.0, "liblinear").steps[-1][1].max_iter == svm.LIBLINEAR_MAX_ITER
    assert svm.pipeline(recipe, 1.0, "libsvm").steps[-1][1].max_iter == svm.LIBSVM_MAX_ITER > 0
    assert svm.pipeline(svm.Recipe(kernel="rbf"), 1.0, "libsvm").steps[-1][1].max_iter == svm.LIBSVM_MAX_ITER


def _slow_fit(tmp_path, sig):
    """`svm train` on features that keep libsvm busy for many seconds a fit (2 dimensions, random
    labels, C 1e6), signalled once the first fit has begun: (exit status, seconds to exit, stderr)."""
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        np.savez(tmp_path / f"{name}.npz", features=rng.normal(size=(2000, 2)).astype(np.float32),
                 labels=rng.integers(0, 2, 2000).astype(np.int64), classes=np.array(["x", "y"]))
    proc = subprocess.Popen([PYTHON, "-m", "gantool", "--threads", "1", "svm", "train", str(tmp_path / "a.npz"),
                             str(tmp_path / "b.npz"), "--solver", "libsvm", "--scale", "none", "--C", "1000000",
                             "--folds", "2", "--out-dir", str(tmp_path / "models")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env(),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = proc.stderr.readline().decode()  # "a.npz: 2,000 x 2", printed just before scikit-learn is imported
    assert "a.npz" in first, first
    time.sleep(5)  # the imports done, well inside the first fit (without a limit on libsvm's steps: minutes)
    assert proc.poll() is None
    proc.send_signal(sig)
    t0 = time.monotonic()
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("svm train did not stop within 20 s of the signal")
    return proc.returncode, time.monotonic() - t0, err.decode()


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_long_svm_fit_stops_at_once_on_ctrl_c_and_sigterm(tmp_path, sig, code, word):
    # old: the signal waited for liblinear/libsvm to return (seconds to forever)
    status, seconds, err = _slow_fit(tmp_path, sig)
    assert status == code, err
    assert seconds < 2, seconds
    lines = err.strip().splitlines()
    assert lines == [f"gantool svm: {word}"], err
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_a_fit_in_the_child_gives_the_same_model_as_in_this_process():
    from sklearn.datasets import load_digits

    from gantool.transfer import isolate, svm

    d = load_digits()
    x, y = d.data.astype(np.float32), d.target
    recipe = svm.Recipe(C="1", folds=2)
    forked = svm.train(x, y, 10, recipe)
    real = isolate.call
    try:
        isolate.call = lambda fn, *args: fn(*args)
        here = svm.train(x, y, 10, recipe)
    finally:
        isolate.call = real
    assert np.array_equal(forked.predictions, here.predictions) and forked.cv == here.cv
    assert np.array_equal(forked.model.decision_function(x), here.model.decision_function(x))


def test_an_error_in_the_child_is_raised_here_as_the_same_kind():
    from gantool.errors import BadValue, GantoolError
    from gantool.transfer import isolate

    def fails(kind):
        if kind == "bad":
            raise BadValue("pca", 9, "too many")
        raise GantoolError("broken", "fix it")

    with pytest.raises(BadValue, match="pca 9: too many") as e:
        isolate.call(fails, "bad")
    assert e.value.field == "pca" and e.value.named(lambda f: "--" + f).what == "--pca 9: too many"
    with pytest.raises(GantoolError, match=r"broken \(fix it\)"):
        isolate.call(fails, "other")


# ---- 3. a full disk ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_extract_features_to_a_full_disk_fails_in_one_line(classifier):
    # old: the right line, then a ZipFile.__del__ traceback
    r = subprocess.run([PYTHON, "-m", "gantool", "-q", "--threads", "1", "extract-features", "--data", "digits",
                        "-m", str(classifier), "-o", "/dev/full"], capture_output=True, env=subprocess_env(),
                       timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert err.strip().splitlines() == [err.strip()] and "Traceback" not in err and "Exception ignored" not in err
    assert err.startswith("gantool extract-features: error: cannot write /dev/full: No space left on device"), err


def test_npz_writer_on_a_failing_stream_leaves_nothing_to_write_later():
    import gc
    import sys

    from gantool.transfer.features import NpzWriter

    class Full(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            raise OSError(28, "No space left on device")

    def fill(buffer: int):
        with NpzWriter(io.BufferedWriter(Full(), buffer), 10, 300) as w:
            w.write(np.zeros((10, 300), np.float32))
            w.close(np.zeros(10, np.int64), [], [f"r{i}" for i in range(10)])

    unraisable = []
    old, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        for buffer in (16, 100_000):  # fails in the header, in the rows or in the end
            with pytest.raises(OSError):
                fill(buffer)
            gc.collect()
    finally:
        sys.unraisablehook = old
    assert unraisable == []  # old: ZipFile.__del__ wrote again and failed again, a traceback at exit


# ---- 4. checks before any work ------------------------------------------------------------------

def test_svm_unlabelled_test_file_is_refused_before_the_fit(tmp_path):
    # old: a raw scikit-learn error after the fit
    train = _features(tmp_path / "t.npz")
    test = _features(tmp_path / "u.npz", labelled=False)
    r = run_gantool(*ONE, "svm", "train", train, "--test", test, "-o", tmp_path / "m.safetensors")
    line = one_line_error(r, "svm", 1)
    assert "u.npz has unlabelled rows" in line
    assert not (tmp_path / "m.safetensors").exists()


def test_features_with_a_huge_label_and_no_classes_are_refused_at_once(tmp_path):
    # old: a name per integer up to 10^12, memory growing for ever
    np.savez(tmp_path / "h.npz", features=np.zeros((2, 3), np.float32), labels=np.array([0, 10**12], np.int64))
    t0 = time.monotonic()
    line = one_line_error(run_gantool("svm", "train", tmp_path / "h.npz", "-o", tmp_path / "m.safetensors"), "svm", 1)
    assert "labels go up to 1000000000000" in line and time.monotonic() - t0 < 10


# ---- 5. options of another action -----------------------------------------------------------------

@pytest.mark.parametrize("option", [("--folds", "5"), ("--holdout", "0.2"), ("--C", "0.1,1,5,10"), ("--scale", "standard"),
                                    ("--test", "x.npz")])
def test_svm_predict_refuses_training_options_even_at_their_defaults(tmp_path, option):
    # old: `svm predict --folds 5` passed silently (a default value looked like no value)
    feats = _features(tmp_path / "f.npz")
    r = run_gantool("svm", "predict", feats, "-m", tmp_path / "m.safetensors", *option)
    assert f"{option[0]} applies to svm train, not predict" in one_line_error(r, "svm", 2)


# ---- 6. stdin and stdout ---------------------------------------------------------------------------

def test_svm_reads_features_from_stdin(tmp_path):
    feats = _features(tmp_path / "f.npz")
    data = feats.read_bytes()
    r = run_gantool(*ONE, "--json", "svm", "train", "-", "--C", "1", "-o", tmp_path / "m.safetensors", stdin=data)
    assert r.code == 0, r.stderr
    trained = json.loads(r.stdout)
    assert trained["features"] == "<stdin>" and trained["accuracy"] > 0.9
    r = run_gantool(*ONE, "--json", "svm", "evaluate", "-", "-m", tmp_path / "m.safetensors", "--held-out", stdin=data)
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["accuracy"] == trained["accuracy"]
    r = run_gantool(*ONE, "svm", "predict", "-", "-m", tmp_path / "m.safetensors", stdin=data)
    assert r.code == 0 and r.text.splitlines()[0].startswith("r0\t")
    one_line_error(run_gantool("svm", "predict", "-", "-m", tmp_path / "m.safetensors", stdin_tty=True), "svm", 2)
    one_line_error(run_gantool("svm", "train", "-", "-", "-o", tmp_path / "d", stdin=data), "svm", 2)


def test_extract_features_reads_images_from_stdin_and_writes_features_to_stdout(classifier, tmp_path):
    images = (np.random.default_rng(0).random((3, 8, 8)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    np.save(buf, images)
    r = run_gantool(*ONE, "-q", "extract-features", "-", "-m", classifier, "-o", "-", stdin=buf.getvalue())
    assert r.code == 0, r.stderr
    d = np.load(io.BytesIO(r.stdout), allow_pickle=False)
    assert d["features"].shape == (3, 128) and list(d["paths"]) == ["stdin[0]", "stdin[1]", "stdin[2]"]
    r = run_gantool(*ONE, "extract-features", "--data", "digits", "-m", classifier, "-o", "-", stdout_tty=True)
    one_line_error(r, "extract-features", 2)


# ---- 7. one range, checked once ---------------------------------------------------------------------

def test_holdout_and_seed_ranges_come_from_one_place(tmp_path):
    # old: Typer allowed --holdout 0.01..0.9, the library 0..1; a seed out of range failed late
    from gantool.errors import BadValue
    from gantool.transfer.svm import Recipe

    with pytest.raises(BadValue, match="at most 0.9"):
        Recipe(holdout=0.95).validate()
    feats = _features(tmp_path / "f.npz")
    line = one_line_error(run_gantool("svm", "train", feats, "--holdout", "0.95", "-o", tmp_path / "m.safetensors"),
                          "svm", 2)
    assert "--holdout 0.95: must be at most 0.9" in line
    line = one_line_error(run_gantool("--seed", str(2**32), "svm", "train", feats, "-o", tmp_path / "m.safetensors"),
                          "svm", 2)
    assert "--seed" in line and "--holdout" not in line


# ---- 8, 9. -l, and image names from the one input lister -----------------------------------------------

def test_extract_features_names_images_as_every_command_does_and_takes_l(classifier, tmp_path):
    from PIL import Image

    (tmp_path / "imgs" / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for path in ("imgs/sub/d0.png", "imgs/d1.png", "one.png"):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(tmp_path / path)
    r = run_gantool(*ONE, "-q", "extract-features", tmp_path / "imgs", tmp_path / "one.png", "-m", classifier,
                    "-l", "block1", "-o", tmp_path / "f.npz")
    assert r.code == 0, r.stderr
    d = np.load(tmp_path / "f.npz", allow_pickle=False)
    assert list(d["paths"]) == ["d1", "sub/d0", "one"] and str(d["layer"]) == "block1"


def test_several_svm_models_go_into_a_folder_that_is_made(tmp_path):
    # the folder --out-dir DIR is made when the first model is written (parents of a file output never are)
    a, b = _features(tmp_path / "a.npz"), _features(tmp_path / "b.npz", seed=1)
    r = run_gantool(*ONE, "--json", "svm", "train", a, b, "--C", "1", "--out-dir", tmp_path / "models")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]  # JSON lines: one object per file
    assert [row["features"] for row in rows] == [str(a), str(b)]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "a-confusion.png", "a.safetensors", "b-confusion.png", "b.safetensors"]
    shutil.rmtree(tmp_path / "models")


def test_svm_models_of_several_features_take_out_dir_and_one_takes_o(tmp_path):
    """-o names a file, --out-dir a folder, in svm as everywhere."""
    a, b = _features(tmp_path / "a.npz"), _features(tmp_path / "b.npz", seed=1)
    r = run_gantool("svm", "train", a, b, "--C", "1", "-o", tmp_path / "models")
    assert "--out-dir" in one_line_error(r, "svm", 2)
    r = run_gantool("svm", "train", a, "--C", "1", "--out-dir", tmp_path / "models")
    assert "-o FILE" in one_line_error(r, "svm", 2)
    assert not (tmp_path / "models").exists()
