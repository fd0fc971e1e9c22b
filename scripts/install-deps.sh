#!/bin/sh
# Install hostcri's build and test dependencies from Debian 12 packages.
# Usage: scripts/install-deps.sh [build|test]   (default: build)
#   build: what compiling and running the daemon needs
#   test:  build plus the unit, integration, fuzz and registry test tools
# Run as root. apt-get update runs only when a package is missing.
set -eu

mode=${1:-build}

build_packages="build-essential cmake pkg-config
    libuv1-dev libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
    libcurl4-openssl-dev libssl-dev libarchive-dev libjansson-dev
    libsqlite3-dev libyaml-dev"

test_packages="libcmocka-dev clang libclang-rt-14-dev clang-format
    python3-grpcio python3-pytest python3-protobuf python3-h2 protobuf-compiler
    golang-go golang-google-grpc-dev golang-github-docker-spdystream-dev
    golang-github-gorilla-websocket-dev
    docker-registry skopeo umoci openssl apache2-utils busybox-static jq curl
    util-linux procps iproute2 gnuplot-nox debootstrap systemd"

case "$mode" in
build) packages=$build_packages ;;
test) packages="$build_packages $test_packages" ;;
*)
    echo "usage: $0 [build|test]" >&2
    exit 2
    ;;
esac

missing=""
for package in $packages; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $package"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all $mode packages are installed"
    exit 0
fi

echo "install-deps: installing$missing"
# Keep package services (docker-registry listens on port 5000) from starting during install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
if [ "$created_policy" = 1 ]; then
    rm -f "$policy"
fi
