# The README's two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
GANTOOL := $(VENV)/bin/gantool
STAMP  := $(VENV)/.installed-stamp
# The known-good pair on this project's machines; pyproject.toml declares ranges for everyone else.
TORCH_PIN := torch==2.14.1 torchvision==0.29.1

.PHONY: install install-man demo test man completions docs clean bench

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIN) -e '.[test]'
	touch $@

# The man pages go with the package: a regular `pip install` puts them in PREFIX/share/man/man1
# (pyproject.toml), an editable one does not, so they are copied there; `man` finds them from PATH.
VENV_MAN := $(VENV)/share/man/man1
$(VENV_MAN)/gantool.1: $(wildcard man/*.1) | $(PY)
	mkdir -p $(VENV_MAN)
	cp man/*.1 $(VENV_MAN)/

install: $(STAMP) $(VENV_MAN)/gantool.1

# `man gantool` from any shell, not only with .venv/bin on PATH
MANDIR ?= $(HOME)/.local/share/man/man1
install-man:
	mkdir -p $(MANDIR)
	cp man/*.1 $(MANDIR)/
	@echo "installed the gantool man pages in $(MANDIR)"

demo: install
	$(GANTOOL) --seed 0 train --out demo --force
	$(GANTOOL) --seed 0 sample -m demo/model.safetensors -n 64 -o demo/samples.png --latents demo/latents.npy
	@echo "demo: samples in demo/samples.png, training grids in demo/samples/, losses in demo/losses.png"

# a pytest-xdist worker per core, each kept to its own cores (tests/conftest.py); an idle worker takes
# tests queued for a busy one (worksteal: 7 min on 2 cores, against 9.5 with a file per worker)
test: install
	$(PY) -m pytest -q -n auto --dist worksteal

man: install
	$(PY) -m gantool.docgen man man

completions: install
	$(PY) -m gantool.docgen completions completions

docs: man completions

bench: install
	$(PY) bench/train_throughput.py

clean:
	rm -rf demo build *.egg-info .pytest_cache
