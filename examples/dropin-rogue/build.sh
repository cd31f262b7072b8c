#!/usr/bin/env bash
# Stage the build context of examples/dropin-rogue/Dockerfile and build it without network.
# `make dropin-rogue-image` runs this; every input comes from the environment:
#   ROGUE_SOURCE   an unpacked Rogue source tree (required)
#   ROGUE_VERSION  its release, e.g. v6.15.0 (default: `git describe` in ROGUE_SOURCE)
#   ROGUE_PACKAGE  the lab's Root package: a directory pip can build (optional)
#   IOC_ROOT       MODULE:CLASS of the Root (default pyrogue.examples:ExampleRoot)
#   IOC_PREFIX     the PV prefix (default ROGUE)
#   IOC_IMAGE      the appliance image to build on, BASE_IMAGE its base (Rogue compiles there)
#   ROGUE_IMAGE    the image to build
#   PIP, WHEEL_TARGET, BUILD_DIR, WHEELHOUSE   from the Makefile (host pip, wheel platform flags,
#                  scratch directory, the appliance's own wheels)
# Downloads (Debian packages into $BUILD_DIR/rogue-debs, wheels into $BUILD_DIR/rogue-wheels) happen
# here, before the build, and are reused while their inputs stay the same.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${ROGUE_SOURCE:?set ROGUE_SOURCE to an unpacked Rogue source tree}"
: "${IOC_IMAGE:?}" "${BASE_IMAGE:?}" "${ROGUE_IMAGE:?}" "${PIP:?}" "${BUILD_DIR:?}"
IOC_ROOT=${IOC_ROOT:-pyrogue.examples:ExampleRoot}
IOC_PREFIX=${IOC_PREFIX:-ROGUE}
ROGUE_PACKAGE=${ROGUE_PACKAGE:-}

# Compilers and -dev packages for the builder stage; shared libraries for the final image.
BUILD_DEBS="g++ make cmake libboost-python-dev libzmq3-dev libbz2-dev python3-dev"
RUNTIME_DEBS="libboost-python1.74.0 libzmq5 libbz2-1.0 libpython3.11"

say() { echo "dropin-rogue: $*"; }
die() { echo "dropin-rogue: $*" >&2; exit 1; }

[ -f "$ROGUE_SOURCE/CMakeLists.txt" ] && [ -d "$ROGUE_SOURCE/python/pyrogue" ] \
    || die "$ROGUE_SOURCE is not a Rogue source tree (no CMakeLists.txt or python/pyrogue)"
if [ -z "${ROGUE_VERSION:-}" ]; then
    ROGUE_VERSION=$(git -C "$ROGUE_SOURCE" describe --tags 2>/dev/null) \
        || die "cannot tell the Rogue release of $ROGUE_SOURCE (no git history): set ROGUE_VERSION"
fi
[ -z "$ROGUE_PACKAGE" ] || [ -d "$ROGUE_PACKAGE" ] || die "ROGUE_PACKAGE $ROGUE_PACKAGE is not a directory"
docker image inspect "$IOC_IMAGE" >/dev/null 2>&1 || die "no appliance image $IOC_IMAGE (make image)"

mkdir -p "$BUILD_DIR"
build=$(cd "$BUILD_DIR" && pwd)
ctx=$build/dropin-rogue
rm -rf "$ctx"
mkdir -p "$ctx/rogue" "$ctx/wheels"

# Rogue's source, without the products of a build on the host.
tar -C "$ROGUE_SOURCE" -c --exclude=./build --exclude=./lib --exclude=.git --exclude='*.so' \
    --exclude=__pycache__ . | tar -C "$ctx/rogue" -x

# Debian packages: resolved and fetched by apt in a throw-away container of the base image,
# so the set is exactly what the base (and the appliance built on it) lacks.
base_id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")
fetch_debs() {  # fetch_debs KIND PACKAGES...
    local kind=$1 dir=$build/rogue-debs/$1
    shift
    local key="$base_id $*"
    if [ -f "$dir/.key" ] && [ "$(cat "$dir/.key")" = "$key" ]; then
        say "$kind packages up to date ($(ls "$dir"/*.deb | wc -l) in $dir)"
        return
    fi
    say "fetching $kind packages: $*"
    rm -rf "$dir"
    mkdir -p "$dir"
    docker run --rm --user root --entrypoint sh -v "$dir:/out" "$BASE_IMAGE" -c "
        apt-get update -qq && apt-get install -qq -y --download-only --no-install-recommends $* \
        && cp /var/cache/apt/archives/*.deb /out/ && chown -R $(id -u):$(id -g) /out" >/dev/null
    echo "$key" >"$dir/.key"
}
fetch_debs runtime $RUNTIME_DEBS
fetch_debs build $BUILD_DEBS
mkdir -p "$ctx/debs"
cp -r "$build/rogue-debs/runtime" "$build/rogue-debs/build" "$ctx/debs/"

# Wheels: Rogue's own Python requirements (from its setup template), the lab's package and what
# they need, pinned to the versions the appliance already has.
requirements=$(python3 - "$ROGUE_SOURCE/templates/setup.py.in" <<'EOF'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
for node in ast.walk(tree):
    if isinstance(node, ast.keyword) and node.arg == "install_requires":
        print(" ".join(ast.literal_eval(node.value)))
        break
else:
    sys.exit(f"no install_requires in {sys.argv[1]}")
EOF
)
if [ -n "$ROGUE_PACKAGE" ]; then
    "$PIP" wheel --quiet --no-deps -w "$ctx/wheels" "$ROGUE_PACKAGE"
    requirements="$requirements $(cd "$ctx/wheels" && ls *.whl | sed 's/-.*//')"
fi
printf '%s\n' $requirements >"$ctx/wheels/requirements.txt"
wheels=$build/rogue-wheels
pinned=$(docker run --rm --entrypoint pip "$IOC_IMAGE" freeze | grep -E '^[A-Za-z0-9_.-]+==')
key="$(tr '\n' ' ' <"$ctx/wheels/requirements.txt")| $(echo "$pinned" | tr '\n' ' ')"
if [ -f "$wheels/.key" ] && [ "$(cat "$wheels/.key")" = "$key" ]; then
    say "wheels up to date ($(ls "$wheels"/*.whl | wc -l) in $wheels)"
else
    say "fetching wheels for: $(tr '\n' ' ' <"$ctx/wheels/requirements.txt")"
    rm -rf "$wheels"
    mkdir -p "$wheels"
    echo "$pinned" >"$wheels/constraints.txt"
    # shellcheck disable=SC2086  # WHEEL_TARGET is a list of flags
    "$PIP" download --quiet -d "$wheels" $WHEEL_TARGET --find-links "$ctx/wheels" \
        ${WHEELHOUSE:+--find-links "$WHEELHOUSE"} \
        -c "$wheels/constraints.txt" -r "$ctx/wheels/requirements.txt" setuptools wheel
    echo "$key" >"$wheels/.key"
fi
cp "$wheels"/*.whl "$wheels/constraints.txt" "$ctx/wheels/"
cp "$here/Dockerfile" "$ctx/Dockerfile"

say "building $ROGUE_IMAGE (Rogue $ROGUE_VERSION, Root $IOC_ROOT, prefix $IOC_PREFIX; no network)"
started=$(date +%s)
docker build --network none -q -t "$ROGUE_IMAGE" \
    --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg IOC_IMAGE="$IOC_IMAGE" \
    --build-arg ROGUE_VERSION="$ROGUE_VERSION" \
    --build-arg ROOT="$IOC_ROOT" --build-arg PREFIX="$IOC_PREFIX" "$ctx" >/dev/null
[ "$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$ROGUE_IMAGE" \
    | grep -E '^IOC_(ROOT|PREFIX)=' | sort | tr '\n' ' ')" = "IOC_PREFIX=$IOC_PREFIX IOC_ROOT=$IOC_ROOT " ] \
    || die "$ROGUE_IMAGE does not carry IOC_ROOT=$IOC_ROOT IOC_PREFIX=$IOC_PREFIX"
say "built $ROGUE_IMAGE in $(($(date +%s) - started)) s"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' "$IOC_IMAGE"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' "$ROGUE_IMAGE"
