#!/bin/bash
# The Windows stage of CI: builds the mingw-w64 dependency prefix from Debian sources (skipped
# when it is up to date), cross-builds hostcri.exe and the Windows test programs, and runs them
# under Wine (test/windows/run-wine-tests.sh). Run as root on Debian 12; about 5 minutes for the
# dependencies on 2 cores and 1 to 2 minutes for the rest. Exits non-zero when a step fails.
#
# Environment: HOSTCRI_WINDEPS_PREFIX (default /opt/hostcri-windeps), JOBS, BUILD_DIR.
set -uo pipefail

cd "$(dirname "$0")/../.."
prefix=${HOSTCRI_WINDEPS_PREFIX:-/opt/hostcri-windeps}

echo "=== Windows dependencies ($prefix)"
if ! scripts/windows/build-deps.sh "$prefix"; then
    echo "=== Windows dependencies: FAILED"
    exit 1
fi

echo
echo "=== Windows build and Wine tests"
HOSTCRI_WINDEPS_PREFIX=$prefix test/windows/run-wine-tests.sh
