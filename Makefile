# rogue-ioc: every entry point a developer, a lab or CI uses.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run screens test unit lint fuzz bench bench-smoke wheels base-image image up down integration-test integration-down \
        dropin-rogue-image dropin-rogue-test

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,screens]'
	touch $(STAMP)

## run: the IOC serving the built-in simulator (Ctrl-C stops it)
run: $(STAMP)
	$(BIN)/rogue-ioc

## screens: Phoebus (.bob) and PyDM (.ui) screens of the simulator's PVs into ./screens
screens: $(STAMP)
	$(BIN)/rogue-ioc screens --out screens

## test: unit tests, the end-to-end suite against local IOC subprocesses and the screens suite
## (PyDM under Xvfb; -s prints its screenshots' paths). One pytest run each: the EPICS client
## libraries read their environment once per process, and the suites differ.
test: $(STAMP)
	$(BIN)/pytest -q tests/unit; unit=$$?; \
	$(BIN)/pytest -q tests/integration; integration=$$?; \
	$(BIN)/pytest -q -s tests/screens; screens=$$?; \
	test $$unit -eq 0 -a $$integration -eq 0 -a $$screens -eq 0

## fuzz: the reliability suite's random puts at length (FUZZ_PUTS, default 20000; FUZZ_SEED)
fuzz: $(STAMP)
	FUZZ_PUTS=$${FUZZ_PUTS:-20000} $(BIN)/pytest -q -s tests/integration/test_reliability_fuzz.py

## lint: ruff (style, imports, common bugs) on everything; mypy (types, pyproject.toml) on ioc/
lint: $(STAMP)
	$(BIN)/ruff check ioc sim tests bench
	$(BIN)/ruff format --check ioc sim tests bench
	$(BIN)/mypy

# ---------------------------------------------------------------------------
# Containers: offline base image, wheelhouse, images, compose deployment, CI.
# ---------------------------------------------------------------------------
# `docker compose` (v2 plugin) when present, else the v1 `docker-compose`.
ifndef COMPOSE
COMPOSE := $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)
endif
SUDO          := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BUILD_DIR     := .build
WHEELHOUSE    := wheelhouse
LOCAL_BASE    := rogue-ioc-base:bookworm
# The image the Dockerfile builds on: the bootstrapped one, or e.g. python:3.11-slim-bookworm.
BASE_IMAGE    ?= $(LOCAL_BASE)
IMAGE         ?= rogue-ioc:latest
TESTS_IMAGE   ?= rogue-ioc-tests:latest
DROPIN_IMAGE  ?= rogue-ioc-demo-hw:latest
SCREENS_IMAGE ?= rogue-ioc-screens:latest
# Same mirror apt uses on this machine (deb.debian.org unless overridden).
DEBIAN_MIRROR ?= http://deb.debian.org/debian
# Wheels for the image's CPython 3.11 on glibc x86_64 (bookworm: glibc 2.36).
WHEEL_TARGET  := --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 \
                 --abi abi3 --abi none --platform manylinux_2_28_x86_64 \
                 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
                 --platform manylinux1_x86_64 --platform linux_x86_64
IT_PROJECT    ?= rogue-ioc-it
IT_DEADLINE   ?= 120
# Free host ports (no clash with a running deployment); the IOC's own reads every 0.5 s, as the
# suite's local IOCs do.
IT_ENV         = IOC_IMAGE=$(IMAGE) TESTS_IMAGE=$(TESTS_IMAGE) DROPIN_IMAGE=$(DROPIN_IMAGE) \
                 IOC_PUBLISH_CA=0 IOC_PUBLISH_PVA=0 IOC_READ_PERIOD=0.5
IT_COMPOSE     = $(IT_ENV) $(COMPOSE) -p $(IT_PROJECT)
UP_TIMEOUT    ?= 120

## base-image: bootstrap Debian bookworm (minbase + python3) into $(LOCAL_BASE), no registry
## needed; with another BASE_IMAGE (labs with a registry) it is pulled instead
base-image:
	@if docker image inspect $(BASE_IMAGE) >/dev/null 2>&1; then \
	  echo "base-image: $(BASE_IMAGE) already present"; exit 0; fi; \
	if [ "$(BASE_IMAGE)" != "$(LOCAL_BASE)" ]; then docker pull $(BASE_IMAGE); exit $$?; fi; \
	set -e; \
	command -v debootstrap >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq debootstrap >/dev/null; }; \
	mkdir -p $(BUILD_DIR); rootfs=$(BUILD_DIR)/rootfs; $(SUDO) rm -rf $$rootfs; \
	echo "base-image: debootstrap bookworm from $(DEBIAN_MIRROR) (log: $(BUILD_DIR)/debootstrap.log)"; \
	$(SUDO) debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
	  bookworm $$rootfs $(DEBIAN_MIRROR) >$(BUILD_DIR)/debootstrap.log 2>&1 \
	  || { tail -n 20 $(BUILD_DIR)/debootstrap.log; exit 1; }; \
	$(SUDO) rm -rf $$rootfs/var/cache/apt/archives/*.deb $$rootfs/var/lib/apt/lists/* \
	  $$rootfs/var/log/* $$rootfs/tmp/* $$rootfs/usr/share/doc/* $$rootfs/usr/share/man/* \
	  $$rootfs/usr/share/info/* $$rootfs/usr/share/locale/*; \
	$(SUDO) tar -C $$rootfs -c . | docker import \
	  -c 'ENV LANG=C.UTF-8' \
	  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	  -c 'CMD ["/bin/bash"]' - $(BASE_IMAGE) >/dev/null; \
	$(SUDO) rm -rf $$rootfs; \
	echo "base-image: $(BASE_IMAGE) imported"

## wheels: wheelhouse/ with rogue-ioc and the drop-in example; wheelhouse/deps/ with every
## runtime and test dependency for the image's CPython 3.11 (manylinux, no compiler needed)
wheels: $(STAMP)
	@set -e; mkdir -p $(WHEELHOUSE)/deps $(BUILD_DIR); \
	rm -rf build examples/dropin/build $(WHEELHOUSE)/*.whl; \
	SOURCE_DATE_EPOCH=315532800 $(BIN)/pip wheel --quiet --no-deps -w $(WHEELHOUSE) . examples/dropin \
	  >$(BUILD_DIR)/wheels.log 2>&1 || { tail -n 20 $(BUILD_DIR)/wheels.log; exit 1; }; \
	rm -rf build examples/dropin/build; \
	deps=$(WHEELHOUSE)/deps/.stamp; \
	if [ -f $$deps ] && [ $$deps -nt pyproject.toml ] && [ $$deps -nt examples/dropin/pyproject.toml ]; then \
	  echo "wheels: dependencies up to date (rm $$deps to refetch)"; else \
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
	  >$(WHEELHOUSE)/deps/runtime.txt; \
	$(BIN)/python -c 'import tomllib; print(*(r for r in tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["screens"] if r.startswith("pvi")), sep="\n")' \
	  >$(WHEELHOUSE)/deps/screens.txt; \
	$(BIN)/pip freeze --exclude-editable >$(BUILD_DIR)/constraints.txt; \
	$(BIN)/pip download --quiet -d $(WHEELHOUSE)/deps $(WHEEL_TARGET) --find-links $(WHEELHOUSE) \
	  -c $(BUILD_DIR)/constraints.txt \
	  $(WHEELHOUSE)/rogue_ioc-*.whl $(WHEELHOUSE)/demo_hw_root-*.whl 'pytest>=8' \
	  -r $(WHEELHOUSE)/deps/screens.txt \
	  >>$(BUILD_DIR)/wheels.log 2>&1 || { tail -n 20 $(BUILD_DIR)/wheels.log; exit 1; }; \
	rm -f $(WHEELHOUSE)/deps/rogue_ioc-*.whl $(WHEELHOUSE)/deps/demo_hw_root-*.whl; \
	touch $$deps; fi; \
	echo "wheels: $$(ls $(WHEELHOUSE)/*.whl | wc -l) own + $$(ls $(WHEELHOUSE)/deps/*.whl | wc -l) dependency wheels in $(WHEELHOUSE)/"

## image: rogue-ioc, its test-client image, the screens generator and the drop-in example image
image: base-image wheels
	docker build -q --build-arg BASE_IMAGE=$(BASE_IMAGE) --target runtime -t $(IMAGE) . >/dev/null
	docker build -q --build-arg BASE_IMAGE=$(BASE_IMAGE) --target tests -t $(TESTS_IMAGE) . >/dev/null
	docker build -q --build-arg BASE_IMAGE=$(BASE_IMAGE) --target screens -t $(SCREENS_IMAGE) . >/dev/null
	docker build -q --build-arg IOC_IMAGE=$(IMAGE) -t $(DROPIN_IMAGE) \
	  -f examples/dropin/Dockerfile . >/dev/null
	@docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^rogue-ioc' || true

## up: run the IOC (simulator unless IOC_ROOT/IOC_IMAGE say otherwise) in the background, wait
## until it is healthy (at most UP_TIMEOUT s; else its last log lines and exit 1); its screens
## are written into ./screens. The images are the ones just built unless IOC_IMAGE/SCREENS_IMAGE say.
up: image
	IOC_IMAGE="$${IOC_IMAGE:-$(IMAGE)}" COMPOSE="$(COMPOSE)" UP_TIMEOUT=$(UP_TIMEOUT) scripts/compose-up ioc
	IOC_IMAGE="$${IOC_IMAGE:-$(IMAGE)}" SCREENS_IMAGE="$${SCREENS_IMAGE:-$(SCREENS_IMAGE)}" \
	  $(COMPOSE) up -d screens

## down: stop and remove the compose deployment
down:
	$(COMPOSE) --profile test down --remove-orphans

## integration-test: images → ioc + drop-in containers → CA/PVA suite in the tests container →
## container fault test from this host (docker network disconnect, pause); exits with the suites'
## code and always removes the containers
integration-test: image
	@teardown() { $(IT_COMPOSE) --profile test down --remove-orphans -v >/dev/null 2>&1 || true; }; \
	teardown; trap teardown EXIT; trap 'exit 130' INT TERM; \
	rc=0; \
	$(IT_ENV) COMPOSE="$(COMPOSE) -p $(IT_PROJECT)" UP_TIMEOUT=$(IT_DEADLINE) \
	  scripts/compose-up ioc ioc-dropin || rc=1; \
	if [ $$rc = 0 ]; then \
	  for svc in ioc ioc-dropin; do \
	    cid=$$($(IT_COMPOSE) ps -q $$svc); \
	    hardening=$$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{.Config.User}}' $$cid); \
	    if [ "$$hardening" != "true [ALL] [no-new-privileges:true] ioc" ]; then \
	      echo "integration-test: $$svc is not hardened: $$hardening"; rc=1; break; fi; \
	    echo "integration-test: $$svc read-only, no capabilities, no-new-privileges, user ioc"; \
	  done; \
	fi; \
	if [ $$rc = 0 ]; then \
	  $(IT_COMPOSE) --profile test run --rm tests; rc=$$?; \
	fi; \
	if [ $$rc = 0 ]; then \
	  echo "integration-test: container faults (network, pause), from this host"; \
	  IOC_FAULT_CONTAINER=$$($(IT_COMPOSE) ps -q ioc) IOC_FAULT_PREFIX=$${IOC_PREFIX:-SIM} \
	    $(BIN)/pytest -q -s tests/integration/test_reliability_container.py; rc=$$?; \
	fi; \
	if [ $$rc != 0 ]; then \
	  echo "integration-test: failed (exit $$rc); IOC logs:"; \
	  $(IT_COMPOSE) --profile test logs --no-color --tail=40 ioc ioc-dropin 2>&1 || true; fi; \
	if [ $$rc = 0 ]; then \
	  IMAGE=$(IMAGE) DROPIN_IMAGE=$(DROPIN_IMAGE) SCREENS_IMAGE=$(SCREENS_IMAGE) TESTS_IMAGE=$(TESTS_IMAGE) \
	    COMPOSE="$(COMPOSE)" IT_PROJECT=$(IT_PROJECT) tests/compose/check-deployment; rc=$$?; fi; \
	exit $$rc

# ---------------------------------------------------------------------------
# The drop-in with SLAC Rogue built from source (examples/dropin-rogue): only with ROGUE_SOURCE,
# a directory holding an unpacked Rogue source tree; CI never needs one.
# ---------------------------------------------------------------------------
ROGUE_SOURCE  ?=
ROGUE_VERSION ?=
ROGUE_PACKAGE ?=
ROGUE_ROOT    ?= pyrogue.examples:ExampleRoot
ROGUE_PREFIX  ?= ROGUE
ROGUE_IMAGE   ?= rogue-ioc-rogue:latest
# Tree paths the smoke test must not write or invoke (a regular expression; test_any_root.py);
# ExampleRoot: StreamWriter.Open fails until a data file is named, and Close (a configuration dump)
# races ExampleRoot's own TestPlotFigure getter, which is not thread-safe.
ROGUE_NO_WRITE ?= ExampleRoot\.StreamWriter\.(Open|Close)
ROGUE_DEADLINE ?= 1800
ROGUE_COMPOSE  = ROGUE_IMAGE=$(ROGUE_IMAGE) TESTS_IMAGE=$(TESTS_IMAGE) ROGUE_PREFIX=$(ROGUE_PREFIX) \
                 ROGUE_NO_WRITE='$(ROGUE_NO_WRITE)' $(COMPOSE) -p $(IT_PROJECT)-rogue

## dropin-rogue-image: $(ROGUE_IMAGE) = the appliance + Rogue built from ROGUE_SOURCE + the Root
## (ROGUE_ROOT, ROGUE_PREFIX; a lab's package in ROGUE_PACKAGE); the build itself is offline
dropin-rogue-image: image
	@ROGUE_SOURCE='$(ROGUE_SOURCE)' ROGUE_VERSION='$(ROGUE_VERSION)' ROGUE_PACKAGE='$(ROGUE_PACKAGE)' \
	  IOC_ROOT='$(ROGUE_ROOT)' IOC_PREFIX='$(ROGUE_PREFIX)' IOC_IMAGE='$(IMAGE)' \
	  BASE_IMAGE='$(BASE_IMAGE)' ROGUE_IMAGE='$(ROGUE_IMAGE)' PIP='$(abspath $(BIN))/pip' WHEEL_TARGET='$(WHEEL_TARGET)' \
	  BUILD_DIR='$(BUILD_DIR)' WHEELHOUSE='$(abspath $(WHEELHOUSE))' examples/dropin-rogue/build.sh

## dropin-rogue-test: that image under compose, checked by tests/integration/test_any_root.py
## (every PV on CA and PVA, RW round trips, commands, health); skipped without ROGUE_SOURCE
dropin-rogue-test:
	@if [ -z '$(ROGUE_SOURCE)' ]; then \
	  echo "dropin-rogue-test: skipped: set ROGUE_SOURCE to an unpacked Rogue source tree"; exit 0; fi; \
	$(MAKE) --no-print-directory dropin-rogue-image || exit 1; \
	teardown() { $(ROGUE_COMPOSE) --profile rogue down -v --remove-orphans >/dev/null 2>&1 || true; }; \
	teardown; trap teardown EXIT; trap 'exit 130' INT TERM; \
	started=$$(date +%s); \
	timeout $(ROGUE_DEADLINE) env $(ROGUE_COMPOSE) --profile rogue run --rm tests-rogue; rc=$$?; \
	health=$$(docker inspect -f '{{.State.Health.Status}}' $$($(ROGUE_COMPOSE) ps -q ioc-rogue) 2>/dev/null); \
	echo "dropin-rogue-test: suite exit $$rc in $$(( $$(date +%s) - started )) s, ioc-rogue $${health:-gone}"; \
	[ "$$health" = healthy ] || rc=1; \
	if [ $$rc != 0 ]; then $(ROGUE_COMPOSE) --profile rogue logs --no-color --tail=40 ioc-rogue; fi; \
	exit $$rc

# ---------------------------------------------------------------------------
# Benchmark (docs/performance.md): the IOC against raw softioc records, side by side.
# ---------------------------------------------------------------------------
## bench: N = 1k, 10k, 100k; prints the table, writes bench/results/latest.json; then autosave:
## put p99 under a put storm without/with autosave, save and restore of up to 100k settings
bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/autosave.py --storm

## bench-smoke: the same for N = 100 only (< 1 min), keeps the benchmark working in CI
bench-smoke: $(STAMP)
	$(BIN)/python bench/run.py --smoke
	$(BIN)/python bench/autosave.py --n 100 --storm --storm-n 1000 --storm-puts 50

## integration-down: remove what integration-test started (it does so itself; for interrupted runs)
integration-down:
	$(IT_COMPOSE) --profile test down --remove-orphans -v
