#!/bin/bash
# Packaging tests: checks the systemd unit with systemd-analyze verify, builds the .deb with
# CPack, installs it into a fresh Debian 12 chroot made by debootstrap, and runs
# `hostcri --version` and `hostcri config check` from it. Run as root; needs a Debian mirror
# (DEBIAN_MIRROR, default http://deb.debian.org/debian). Ends with "N passed, N failed".
set -uo pipefail

cd "$(dirname "$0")/.."
source_dir=$(pwd)
work=$(mktemp -d /tmp/hostcri-package-XXXXXX)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
passed=0
failed=0

cleanup() {
    for mountpoint in proc dev; do
        if mountpoint -q "$work/root/$mountpoint" 2>/dev/null; then
            umount "$work/root/$mountpoint"
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

check() {
    local name=$1
    shift
    if "$@"; then
        echo "PASS $name"
        passed=$((passed + 1))
        return 0
    fi
    echo "FAIL $name"
    failed=$((failed + 1))
    return 1
}

build_package() {
    cmake -S "$source_dir" -B "$work/build" -DCMAKE_INSTALL_PREFIX=/usr \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOSTCRI_TESTS=OFF >/dev/null &&
        cmake --build "$work/build" -j"$(nproc)" >/dev/null &&
        (cd "$work/build" && cpack -G DEB >/dev/null) &&
        ls "$work"/build/hostcri_*.deb >/dev/null
}

verify_unit() {
    # systemd-analyze needs the binary the unit names to exist: point it at the build.
    sed "s|^ExecStart=[^ ]*|ExecStart=$work/build/hostcri|" "$work/build/hostcri.service" \
        >"$work/hostcri.service"
    systemd-analyze verify "$work/hostcri.service" &&
        grep -qx 'Type=notify' "$work/hostcri.service" &&
        grep -qx 'KillMode=process' "$work/hostcri.service" &&
        grep -qx 'Restart=on-failure' "$work/hostcri.service"
}

# dpkg keeps an edited conffile on upgrade; a plain file would be overwritten.
conffiles_listed() {
    local deb conffiles
    # Read the whole output first: with pipefail, grep -q ending early can fail the pipeline
    # through dpkg-deb's SIGPIPE.
    deb=$(ls "$work"/build/hostcri_*.deb) &&
        conffiles=$(dpkg-deb -I "$deb" conffiles) &&
        grep -qx /etc/hostcri/config.yaml <<<"$conffiles"
}

make_chroot() {
    debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -n 20 "$work/debootstrap.log"; return 1; }
}

install_in_chroot() {
    cp "$work"/build/hostcri_*.deb "$work/root/tmp/hostcri.deb"
    mount -t proc proc "$work/root/proc"
    chroot "$work/root" /bin/sh -c \
        'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/hostcri.deb' \
        >"$work/install.log" 2>&1 || { tail -n 20 "$work/install.log"; return 1; }
}

# Runs only in the chroot, so only when debootstrap reaches a Debian mirror.
edited_config_survives_reinstall() {
    echo "# edited by test-package.sh" >>"$work/root/etc/hostcri/config.yaml" &&
        chroot "$work/root" dpkg -i --force-confold /tmp/hostcri.deb >>"$work/install.log" 2>&1 &&
        grep -qx "# edited by test-package.sh" "$work/root/etc/hostcri/config.yaml"
}

run_in_chroot() {
    chroot "$work/root" /usr/bin/hostcri --version | grep -q '^hostcri ' &&
        chroot "$work/root" /usr/bin/hostcri config check /etc/hostcri/config.yaml &&
        test -x "$work/root/usr/bin/hostcri-monitor" &&
        test -f "$work/root/usr/lib/systemd/system/hostcri.service" -o \
            -f "$work/root/lib/systemd/system/hostcri.service"
}

check "build the .deb with CPack" build_package || { echo "$passed passed, $failed failed"; exit 1; }
check "systemd-analyze verify hostcri.service" verify_unit
check "dpkg-deb -I lists /etc/hostcri/config.yaml as a conffile" conffiles_listed
if check "debootstrap a Debian 12 chroot" make_chroot; then
    check "install the .deb in the chroot" install_in_chroot &&
        check "hostcri --version runs in the chroot" run_in_chroot &&
        check "an edited config.yaml survives a reinstall" edited_config_survives_reinstall
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
