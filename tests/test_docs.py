"""The man pages and shell completions in man/ and completions/ are generated from the CLI
(gantool/docgen.py): they must be current, cover every command and option, and work."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from gantool import docgen
from gantool.cli.app import COMMANDS

ROOT = Path(__file__).resolve().parents[1]

CMDS = docgen.commands()  # gantool itself first, then each command
COMPLETIONS = ROOT / "completions"


def mentions(text: str, word: str) -> bool:
    """`word` on its own, not as part of a longer option (--data is not found in --data-root)."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def man_bold(name: str) -> str:
    """How a man page sets an option name: bold, hyphens as troff minus signs."""
    return "\\fB" + name.replace("-", "\\-") + "\\fR"


def option_names(cmd) -> list[str]:
    return [n for p in cmd.params if not docgen.is_arg(p) for n in docgen.names(p)]


@pytest.mark.parametrize("kind", ["man", "completions"])
def test_committed_files_are_current(kind, tmp_path):
    getattr(docgen, kind)(tmp_path)
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in (ROOT / kind).iterdir()}
    assert sorted(committed) == sorted(fresh), f"{kind}/ does not match the CLI: run `make man completions`"
    for name, text in fresh.items():
        assert committed[name] == text, f"{kind}/{name} is out of date: run `make man completions`"


def test_the_click_tree_has_the_commands_main_knows():
    assert [c.name for c in CMDS[1:]] == [m.replace("_", "-") for m in COMMANDS]


@pytest.mark.parametrize("cmd", CMDS, ids=lambda c: c.page)
def test_man_page_covers_every_option_and_env_var(cmd):
    page = (ROOT / "man" / f"{cmd.page}.1").read_text()
    for name in option_names(cmd):
        assert man_bold(name) in page, f"{name} missing from man/{cmd.page}.1"
    environment = page.split(".SH ENVIRONMENT")[1].split(".SH ")[0]
    for p in cmd.params:
        if p.envvar:
            assert p.envvar in environment, f"{p.envvar} missing from ENVIRONMENT in man/{cmd.page}.1"
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES", "SEE ALSO"):
        assert f"\n.SH {section}\n" in page


def test_overview_lists_every_command_and_global_option():
    page = (ROOT / "man" / "gantool.1").read_text()
    for cmd in CMDS[1:]:
        assert man_bold(cmd.name) in page and man_bold(cmd.page) in page  # listed, and its page named
    for name in ("--device", "--seed", "-q", "--quiet", "--json", "--debug", "--version"):
        assert man_bold(name) in page


@pytest.mark.parametrize("cmd", CMDS, ids=lambda c: c.page)
def test_completions_cover_every_command_and_option(cmd):
    bash, zsh, fish = ((COMPLETIONS / f).read_text() for f in ("gantool.bash", "_gantool", "gantool.fish"))
    for text in (bash, zsh, fish):
        assert mentions(text, cmd.name or "gantool")
    for name in option_names(cmd):
        assert mentions(bash, name), f"{name} missing from gantool.bash"
        assert mentions(zsh, name), f"{name} missing from _gantool"
        fish_flag = f"-s {name[1:]}" if len(name) == 2 else f"-l {name[2:]}"
        assert mentions(fish, fish_flag), f"{name} missing from gantool.fish"


@pytest.mark.parametrize("cmd", CMDS[1:], ids=lambda c: c.name)
def test_examples_parse(cmd, gantool):
    """Each example's options exist: with --help appended, a bad option still fails (exit 2)."""
    assert cmd.examples, f"gantool/cli/{cmd.name}.py has no EXAMPLES for its man page"
    for _, line in cmd.examples:
        segments = [shlex.split(part) for part in re.split(r"\|\||&&|\|", line)]  # wherever it is in a pipe
        words = next((w for w in segments if "gantool" in w and cmd.name in w), None)
        assert words is not None, f"example does not run gantool {cmd.name}: {line}"
        words = words[words.index("gantool") + 1:]  # past VAR=value
        assert gantool(*words, "--help").code == 0, f"example does not parse: {line}"


def bash_complete(line: str) -> list[str]:
    """COMPREPLY of the completion function for the words of `line` (the cursor at its end)."""
    script = (f"source {shlex.quote(str(COMPLETIONS / 'gantool.bash'))}\n"
              'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _gantool; printf "%s\\n" "${COMPREPLY[@]}"')
    out = subprocess.run(["bash", "-c", script, "bash", *line.split(" ")], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.parametrize("line, expected", [("gantool tr", ["train", "train-encoder", "train-classifier", "train-pix2pix", "train-cyclegan", "translate"]), ("gantool train --lo", ["--loss", "--log-every"]),
                                            ("gantool train --loss ", ["nonsaturating", "saturating", "lsgan", "hinge", "wgan-gp"]),
                                            ("gantool --seed 1 train --loss w", ["wgan-gp"]),
                                            ("gantool train --epochs ", []),
                                            ("gantool svm ", ["train", "predict", "evaluate"]),
                                            ("gantool -q svm ev", ["evaluate"]), ("gantool svm train --C ", []),
                                            ("gantool extract-features --layer ", [])])
def test_bash_completion(line, expected):
    assert bash_complete(line) == expected


def test_bash_completion_offers_files_for_paths(tmp_path):
    (tmp_path / "model.safetensors").touch()
    assert bash_complete(f"gantool sample -m {tmp_path}/mo") == [f"{tmp_path}/model.safetensors"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
@pytest.mark.parametrize("line, expected", [("gantool svm ", ["evaluate", "predict", "train"]),
                                            ("gantool svm train --lo", []),  # train's own options are not svm's
                                            ("gantool train --lo", ["--log-every", "--loss"]),
                                            ("gantool -q svm train --so", ["--solver"])])
def test_fish_completion(line, expected):
    script = f"source {shlex.quote(str(COMPLETIONS / 'gantool.fish'))}; complete -C {shlex.quote(line)}"
    out = subprocess.run(["fish", "-c", script], capture_output=True, text=True, check=True, cwd=COMPLETIONS)
    assert sorted(row.split("\t")[0] for row in out.stdout.splitlines()) == expected


@pytest.mark.parametrize("shell, file", [("bash", "gantool.bash"), ("zsh", "_gantool"), ("fish", "gantool.fish")])
def test_completion_syntax(shell, file):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    result = subprocess.run([shell, "-n", str(COMPLETIONS / file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("cmd", CMDS, ids=lambda c: c.page)
def test_man_page_renders_without_warnings(cmd):
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    result = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(ROOT / "man" / f"{cmd.page}.1")],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_roff_escapes_troff_specials():
    assert docgen.roff("a-b \\n") == "a\\-b \\en"
    assert docgen.roff(".TH x\n'quote") == "\\&.TH x\n\\&'quote"
    assert docgen.roff("see `gantool info`") == "see \\fBgantool info\\fR"
