# dosecraft: `make demo` and `make test` are the two commands README gives.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# Qt needs these X/GL libraries at run time; Xvfb gives the headless test display.
APT_PACKAGES := xvfb xauth libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 \
	libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 \
	libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0 \
	libxcb-xfixes0 libxcb-sync1 libxcb-xkb1 libxrender1 libxi6 libsm6 libice6 \
	poppler-utils

.PHONY: demo test lint gui bench sysdeps venv venv-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev,gui,dist]'
	touch $(VENV)/.installed $@

venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev

demo: venv
	rm -rf out/demo
	$(BIN)/dosecraft batch samples/prescriptions.csv --out out/demo \
		--lot DEMO-LOT --lot-expiry $$(date -d '+1 year' +%F) || true
	@test -s out/demo/batch.json && echo "demo output: out/demo/ (batch.json, gcode/, plates/, worksheet.pdf, labels.pdf)"

# Installs only what is missing, so a prepared machine does not need apt at all.
sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: venv-dev
	$(BIN)/ruff check src gui tests bench
	$(BIN)/lint-imports

test: sysdeps venv-dev lint
	$(BIN)/python -m pytest -n 2 -q

gui: venv-dev
	$(BIN)/dosecraft-gui

bench: venv-dev
	$(BIN)/python bench/slice_bench.py
	$(BIN)/python bench/release_bench.py
	$(BIN)/python bench/batch_bench.py

clean:
	rm -rf $(VENV) .venv-octoprint .venv-moonraker out .pytest_cache .ruff_cache .hypothesis
