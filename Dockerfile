# rogue-ioc: the EPICS IOC appliance image (and the image of its CA/PVA test clients).
#
#   make image                 offline: BASE_IMAGE=rogue-ioc-base:bookworm from `make base-image`
#   docker build -t rogue-ioc --target runtime .
#                              labs with a registry: the default python:3.11-slim-bookworm
#
# Everything is installed from wheelhouse/ (`make wheels`) with --no-index: no compiler, no network
# during the build; the dependency wheels never reach the final images (multi-stage).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- common base: runtime environment and the non-root user -------------------------------------
FROM ${BASE_IMAGE} AS base
# EPICS_CA_MAX_ARRAY_BYTES: CA values over 16 kB (the Root's SystemLog, stream frames) need it
# on both ends; the IOC raises its own to fit its largest record, the client tools use this.
ENV LANG=C.UTF-8 \
    EPICS_CA_MAX_ARRAY_BYTES=10000000 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/ioc \
        --shell /usr/sbin/nologin ioc

# --- deps: venv with the runtime dependencies (big, cached while only rogue-ioc itself changes) ---
FROM base AS deps
COPY wheelhouse/deps/ /wheelhouse/deps/
RUN python3 -m venv /opt/venv \
 && pip install --no-cache-dir --no-index --find-links /wheelhouse/deps \
        -r /wheelhouse/deps/runtime.txt

FROM deps AS deps-tests
RUN pip install --no-cache-dir --no-index --find-links /wheelhouse/deps pytest

FROM deps AS deps-screens
RUN pip install --no-cache-dir --no-index --find-links /wheelhouse/deps -r /wheelhouse/deps/screens.txt

# --- tests: pyepics + p4p + pytest + rogue-ioc (so the suite can also start local IOCs) ---------
# (Here and in runtime, what rarely changes comes first: every step after a changed one is rebuilt.)
FROM base AS tests
WORKDIR /app
CMD ["pytest", "-q", "tests/integration"]
COPY --from=deps-tests /opt/venv /opt/venv
COPY wheelhouse/rogue_ioc-*.whl /tmp/wheels/
RUN pip install --no-cache-dir --no-index /tmp/wheels/rogue_ioc-*.whl && rm -rf /tmp/wheels \
 && chown ioc:ioc /app
USER ioc
# The suite starts extra local IOCs (`python -m ioc` from the checkout, like `make test`), so the
# tests image holds the same layout: ioc/ and sim/ next to tests/ (pyproject.toml: pytest options).
COPY --chown=ioc:ioc pyproject.toml /app/
COPY --chown=ioc:ioc ioc/ /app/ioc/
COPY --chown=ioc:ioc sim/ /app/sim/
COPY --chown=ioc:ioc tests/ /app/tests/

# --- screens: `rogue-ioc screens` (pvi, no Qt) writes the Root's screens into /screens ---------
# Runs as root so that it can write into a bind-mounted host directory; the files it writes are
# given to the owner of that directory.
FROM base AS screens
ENV IOC_ROOT=sim:SimRoot \
    IOC_PREFIX=SIM
WORKDIR /screens
ENTRYPOINT ["rogue-ioc", "screens"]
CMD ["--out", "/screens"]
COPY --from=deps-screens /opt/venv /opt/venv
COPY wheelhouse/rogue_ioc-*.whl /tmp/wheels/
RUN pip install --no-cache-dir --no-index /tmp/wheels/rogue_ioc-*.whl && rm -rf /tmp/wheels \
 && python -c "import ioc.screens.generate, sim"

# --- runtime: the IOC (last stage, so a plain `docker build .` gives it) -------------------------
FROM base AS runtime
ENV IOC_ROOT=sim:SimRoot \
    IOC_PREFIX=SIM
# Channel Access: 5064 server (tcp) + search (udp), 5065 beacons/repeater;
# PV Access: 5075 server (tcp), 5076 search (udp).
EXPOSE 5064/tcp 5064/udp 5065/tcp 5065/udp 5075/tcp 5075/udp 5076/tcp 5076/udp
WORKDIR /home/ioc
# The autosave directory (compose mounts the `autosave` volume here; a new named volume takes
# this owner). Nothing else in the image is written at run time: the container runs with a
# read-only root file system and a tmpfs on /tmp (docs/deployment.md).
RUN mkdir -p /var/lib/rogue-ioc && chown ioc:ioc /var/lib/rogue-ioc
# `rogue-ioc health` = one CA + one PVA get of <prefix>:IOC:Heartbeat from a fresh process (~1.5 s
# of CPU, mostly imports), hence 10 s rather than 5 s between checks on a 2-core host.
HEALTHCHECK --interval=10s --timeout=15s --start-period=60s --retries=3 CMD ["rogue-ioc", "health"]
ENTRYPOINT ["rogue-ioc"]
COPY --from=deps /opt/venv /opt/venv
COPY wheelhouse/rogue_ioc-*.whl /tmp/wheels/
# --no-index without a wheelhouse: fails if a dependency is missing from the deps stage.
RUN pip install --no-cache-dir --no-index /tmp/wheels/rogue_ioc-*.whl && rm -rf /tmp/wheels \
 && python -c "import softioc, p4p, epics, numpy, yaml, ioc, sim"
USER ioc
