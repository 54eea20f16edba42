# ConvEmerge: `make run` and `make test` work on a fresh Debian/Ubuntu machine
# with Swift and python3: missing system packages are installed first.
# SCRATCH selects the SwiftPM build directory (e.g. `make test SCRATCH=.build-ci`).

SCRATCH ?= .build
# pipefail: a build piped through tee must still fail the target.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
SWIFT_FLAGS := -c release --scratch-path $(SCRATCH)
BIN := $(SCRATCH)/release/convemerge
VENV := .venv
# Root needs no sudo; anyone else gets it if it is there.
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

.DEFAULT_GOAL := help
.PHONY: help deps build run test bench validate study-inputs study-tiling venv notebooks figures clean

help:
	@echo "make run     install what is missing, build (release), print the input statistics and solve the default problem under every closure"
	@echo "make test    install what is missing, build, run all tests"
	@echo "make bench   FFT methods vs dense baselines (speed-up ratios measured in the same run)"
	@echo "make validate  theory against simulation (issue 4), report in validation-report.md (~1 min)"
	@echo "make study-inputs  which theory predicts localisation on which inputs (issue 9): image rows from scikit-image's photographs, every family under SGD and every closure, report in inputs-study.md (~25 min on 2 cores)"
	@echo "make study-tiling  do K = 4, 8 committees tile rings of L = 40, 100 (issue 12): montecarlo and cumulant ODEs vs SGD, analyze + compare, report in tiling-study.md (STUDY_TILING_FLAGS=--smoke: ~15 s; --sources simulate: SGD only)"
	@echo "make figures  Fig. 1 of Ingrosso & Goldt in 2D (issue 10): NLGP and Gaussian control, export in notebooks-export/fig1_files/ (~1-2 min on 2 cores)"
	@echo "make build   release build of $(BIN)"
	@echo "make venv    Python venv in $(VENV) with numpy and matplotlib (for figures; not needed by run/test)"
	@echo "make notebooks  run notebooks-export/localisation.py (jupytext) and export it with its figures to notebooks-export/localisation.md (~30 s after the build)"
	@echo "make clean   remove the build directory $(SCRATCH)"

# Quiet and idempotent: apt runs only when GSL, FFTW, pkg-config or git is missing.
deps:
	@missing=""; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	pkg-config --exists gsl 2>/dev/null || missing="$$missing libgsl-dev"; \
	pkg-config --exists fftw3 2>/dev/null || missing="$$missing libfftw3-dev"; \
	command -v git >/dev/null 2>&1 || missing="$$missing git"; \
	if [ -n "$$missing" ]; then \
		echo "make: installing$$missing"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# SwiftPM's module cache records absolute paths: a checkout that was copied or moved with its
# build directory fails with "was compiled with module cache path ...". The cache is then
# cleared and the build retried once (the rest of the build directory stays valid).
define swift_build
	@mkdir -p $(SCRATCH)
	@swift build $(SWIFT_FLAGS) 2>&1 | tee $(SCRATCH)/last-build.log || { \
		grep -q "compiled with module cache path" $(SCRATCH)/last-build.log || exit 1; \
		echo "make: this checkout moved since its last build; clearing the module cache and building again"; \
		rm -rf $(SCRATCH)/*/*/ModuleCache; \
		swift build $(SWIFT_FLAGS); }
endef

build: deps
	$(swift_build)

run: build
	$(BIN) stats
	$(BIN) demo --out runs/demo

# Tests use only the public API: without testable imports `swift test` reuses
# the release build instead of recompiling everything with -enable-testing.
# All tests are XCTest; Swift Testing is off so that its empty run does not
# print a closing "0 tests" line after XCTest's summary.
test: deps
	$(swift_build)
	swift test $(SWIFT_FLAGS) --disable-testable-imports --disable-swift-testing

bench: build
	$(BIN) bench

validate: build
	$(BIN) validate --out validation-report.md

# Rows of scikit-image's bundled photographs (offline once the wheel is installed), then the study.
STUDY_ROWS := runs/study-inputs/image-rows.npy
STUDY_PATCH_ROWS := runs/study-inputs/image-rows-crop-mean-removed.npy

study-inputs: build venv $(VENV)/.images
	$(VENV)/bin/python notebooks-export/make_patches.py --L 40 --n 100000 --seed 1 --out $(STUDY_ROWS)
	$(VENV)/bin/python notebooks-export/make_patches.py --L 40 --n 100000 --seed 1 --standardise patch --out $(STUDY_PATCH_ROWS)
	CONVEMERGE=$(abspath $(BIN)) $(VENV)/bin/python notebooks-export/study_inputs.py --rows $(STUDY_ROWS) \
		--patch-rows $(STUDY_PATCH_ROWS) --out inputs-study.md

# Needs `solve --model committee --K K` for the ODE rows (refusals are reported, not fatal).
STUDY_TILING_FLAGS ?=
study-tiling: build venv
	CONVEMERGE=$(abspath $(BIN)) $(VENV)/bin/python notebooks-export/study_tiling.py --out tiling-study.md $(STUDY_TILING_FLAGS)

# Settings and the search behind them: derivations/fig1-2d.md.
figures: build venv
	CONVEMERGE=$(abspath $(BIN)) $(VENV)/bin/python notebooks-export/fig1.py --out notebooks-export/fig1_files --runs runs/fig1

$(VENV)/.images: $(VENV)/.ready
	$(VENV)/bin/pip install -q scikit-image
	@touch $@

# Created on demand by the targets that make figures; python3-venv is installed if venv fails.
venv: $(VENV)/.ready

$(VENV)/.ready:
	@python3 -m venv $(VENV) >/dev/null 2>&1 || { \
		rm -rf $(VENV); echo "make: installing python3-venv"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null && \
		python3 -m venv $(VENV); }
	$(VENV)/bin/pip install -q numpy matplotlib
	@touch $@

# The notebook is kept as a jupytext .py; the .ipynb is an intermediate (gitignored), the committed
# export is the markdown with its PNG figures in notebooks-export/localisation_files/.
NOTEBOOK := notebooks-export/localisation

notebooks: build venv $(VENV)/.notebooks
	$(VENV)/bin/jupytext --quiet --to ipynb --output $(NOTEBOOK).ipynb $(NOTEBOOK).py
	rm -rf $(NOTEBOOK)_files
	CONVEMERGE=$(abspath $(BIN)) $(VENV)/bin/jupyter nbconvert --log-level WARN --to markdown --execute \
		--ExecutePreprocessor.timeout=600 $(NOTEBOOK).ipynb

$(VENV)/.notebooks: $(VENV)/.ready
	$(VENV)/bin/pip install -q jupytext nbconvert ipykernel
	@touch $@

clean:
	rm -rf $(SCRATCH)
