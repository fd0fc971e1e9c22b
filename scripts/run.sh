#!/bin/sh
# Install the build dependencies, build hostcri and run the daemon in the foreground with its
# defaults: socket /run/hostcri/hostcri.sock, root /var/lib/hostcri, state /run/hostcri.
# Extra arguments go to the daemon (see build/hostcri --help). Run as root on Debian 12.
set -eu

cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOSTCRI_TESTS=OFF
cmake --build build -j"$(nproc)"
exec build/hostcri "$@"
