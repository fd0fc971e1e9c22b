#!/bin/bash
# Install every dependency, build hostcri and run all of its tests. The steps: the format
# check, the unit tests (ctest), the unit and gRPC tests again under ASan and UBSan, each fuzz
# target for a short bounded time, the packaging checks (systemd unit, .deb installed in a
# debootstrap chroot), the Windows cross-build with its tests under Wine, and the integration tests (pytest) against the real daemon and a real
# registry on loopback. Run as root on Debian 12. Exits non-zero when any step fails; on
# success the last line is pytest's summary.
#
# Environment: FUZZ_SECONDS (default 20) per fuzz target; JOBS (default nproc).
set -uo pipefail

cd "$(dirname "$0")/.."
source_dir=$(pwd)
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-20}
python=/usr/bin/python3 # Debian's, with python3-grpcio and python3-pytest
failed_steps=()

step() {
    local name=$1
    shift
    echo
    echo "=== $name"
    if ! "$@"; then
        echo "=== $name: FAILED"
        failed_steps+=("$name")
        return 1
    fi
}

build() {
    local dir=$1
    shift
    cmake -S . -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j"$jobs"
}

run_ctest() {
    (cd "$1" && ctest --output-on-failure -j"$jobs")
}

run_fuzzers() {
    local corpus status=0
    for fuzzer in build-fuzz/test/fuzz/*/fuzz_*; do
        [ -x "$fuzzer" ] || continue
        corpus=$(mktemp -d)
        seeds="$source_dir/test/fuzz/corpus/$(basename "$fuzzer")"
        [ -d "$seeds" ] || seeds=""
        echo "fuzz: $(basename "$fuzzer") for ${fuzz_seconds}s"
        if ! "$fuzzer" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -print_final_stats=0 \
            "$corpus" $seeds >"$corpus.log" 2>&1; then
            tail -n 40 "$corpus.log"
            status=1
        fi
        rm -rf "$corpus" "$corpus.log"
    done
    return $status
}

# One registry testbed for every integration test module (they share it through
# HOSTCRI_TESTBED_ENV instead of each starting its own).
start_testbed() {
    [ -x test/testbed/start-registry.sh ] || return 0
    export TESTBED_DIR=${TESTBED_DIR:-/tmp/hostcri-testbed}
    test/testbed/stop-registry.sh >/dev/null 2>&1 || true
    test/testbed/start-registry.sh && test/testbed/make-images.sh &&
        export HOSTCRI_TESTBED_ENV="$TESTBED_DIR/registry.env"
}

stop_testbed() {
    if [ -x test/testbed/stop-registry.sh ]; then
        test/testbed/stop-registry.sh >/dev/null 2>&1 || true
    fi
}
trap stop_testbed EXIT

step "install dependencies" scripts/install-deps.sh test || exit 1
step "format" scripts/check-format.sh
step "build" build build -DHOSTCRI_WERROR=ON -DHOSTCRI_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo ||
    exit 1
# Unit tests of the registry client pull from the testbed too, so it starts first.
step "start the test registry" start_testbed
step "unit tests" run_ctest build
step "build with ASan and UBSan" build build-asan -DHOSTCRI_WERROR=ON -DHOSTCRI_SANITIZE=ON -DHOSTCRI_TESTS=ON \
    -DCMAKE_BUILD_TYPE=Debug &&
    step "unit tests under ASan and UBSan" run_ctest build-asan &&
    step "gRPC tests under ASan and UBSan" env HOSTCRI_BINARY_DIR="$source_dir/build-asan" \
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$python" -m pytest -q -p no:cacheprovider test/integration/test_grpc_server.py
step "build fuzz targets" build build-fuzz -DCMAKE_C_COMPILER=clang -DHOSTCRI_FUZZ=ON \
    -DHOSTCRI_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
    step "fuzz" run_fuzzers
step "package: systemd unit, .deb in a Debian 12 chroot" scripts/test-package.sh
step "Windows cross-build and Wine tests" scripts/windows/ci.sh

echo
if [ ${#failed_steps[@]} -gt 0 ]; then
    echo "=== failed steps: ${failed_steps[*]}"
fi
echo "=== integration tests"
HOSTCRI_BINARY_DIR="$source_dir/build" "$python" -m pytest -p no:cacheprovider -q test/integration
pytest_status=$?
if [ ${#failed_steps[@]} -gt 0 ]; then
    exit 1
fi
exit $pytest_status
