# The ImageService checks of run-wine-tests.sh, which sources this file and calls
# check_image_service after Wine has started. layer_windows_test.exe unpacks Windows layers
# through images/windows/ directly. Then the real hostcri.exe pulls images from the
# registry testbed (test/testbed/) over plain HTTP on loopback, lists them, reads their status,
# checks the unpacked Windows layer on disk, and removes them. One more pull goes over HTTPS
# through curl's Schannel backend, verified against the testbed CA from certs.d, to
# localhost:<TLS port>: under Wine 8 Schannel does not match a certificate's IP address
# entries, so 127.0.0.1 fails the hostname check there.
#
# Uses HOSTCRI_TESTBED_ENV (a running testbed's registry.env) when set; otherwise starts a
# testbed of its own in $build_dir/testbed on port base WINE_TESTBED_PORT_BASE (default 28600)
# and stops it at the end. Needs from run-wine-tests.sh: build_dir, tests_build_dir, result,
# run_test_program, wait_for_daemon, and a started WINEPREFIX.

image_testbed_started=0

# Sets image_testbed_env to a registry.env that has the test images, starting a testbed if needed.
find_image_testbed() {
    if [ -n "${HOSTCRI_TESTBED_ENV:-}" ]; then
        image_testbed_env=$HOSTCRI_TESTBED_ENV
        [ -f "$image_testbed_env" ]
        return
    fi
    local dir=$build_dir/testbed
    image_testbed_env=$dir/registry.env
    TESTBED_DIR=$dir TESTBED_PORT_BASE=${WINE_TESTBED_PORT_BASE:-28600} \
        test/testbed/start-registry.sh >"$build_dir/testbed-start.log" 2>&1 || return 1
    image_testbed_started=1
    TESTBED_DIR=$dir test/testbed/make-images.sh >"$build_dir/testbed-images.log" 2>&1
}

stop_image_testbed() {
    [ "$image_testbed_started" = 1 ] || return 0
    TESTBED_DIR=$build_dir/testbed test/testbed/stop-registry.sh >/dev/null 2>&1
    image_testbed_started=0
}

# The config digest of the windows/amd64 child of test/multi:1.0, from the testbed's OCI layout.
multi_windows_image_id() {
    local oci=$1/build/oci manifest
    manifest=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] ==
        "multi-windows") | .digest' "$oci/index.json" 2>/dev/null) || return 1
    jq -r .config.digest "$oci/blobs/sha256/${manifest#sha256:}" 2>/dev/null
}

# Checks the unpacked layer of test/windows-hostprocess:1.0 under the daemon's root.
check_windows_layer_on_disk() {
    local layers=$1 fs
    fs=$(dirname "$(dirname "$(ls -d "$layers"/*/fs/hostcri-test/hello.cmd 2>/dev/null | head -n 1)")")
    result "the layer directory holds the content of Files/" \
        "$([ -f "$fs/hostcri-test/hello.cmd" ] && [ -f "$fs/hostcri-test/hello.txt" ]; echo $?)" \
        "no hostcri-test/hello.cmd under $layers/*/fs"
    result "hello.cmd keeps its CRLF content" \
        "$(printf '@echo off\r\necho hello from hello.cmd in windows-hostprocess\r\n' |
            cmp -s - "$fs/hostcri-test/hello.cmd"; echo $?)" "content differs"
    result "Files/ and Hives/ are not kept as folders" \
        "$([ -d "$fs" ] && [ ! -e "$fs/Files" ] && [ ! -e "$fs/Hives" ]; echo $?)" \
        "$(ls "$fs" 2>&1 | tr '\n' ' ')"
}

# Waits up to about 10 s for the layers directory to hold no layer any more.
check_layers_removed() {
    local layers=$1 left
    for _ in $(seq 50); do
        left=$(find "$layers" -mindepth 1 -maxdepth 1 ! -name '.tmp-*' 2>/dev/null | wc -l)
        [ "$left" = 0 ] && break
        sleep 0.2
    done
    result "RemoveImage removes the unpacked layers" "$([ "$left" = 0 ]; echo $?)" \
        "$left layer directories left in $layers"
}

run_image_checks() {
    local pipe=$1 registry=$2 testbed_dir=$3 layers=$4 tls=$5 client multi_id
    client=$tests_build_dir/image_pipe_client.exe
    run_test_program "$client" pull "$pipe" "$registry/test/windows-hostprocess:1.0"
    check_windows_layer_on_disk "$layers"
    # test/multi:1.0 offers linux/amd64, linux/arm64 and windows/amd64 (os.version
    # 10.0.17763.5830): a Windows host takes the Windows entry whatever build Wine reports.
    multi_id=$(multi_windows_image_id "$testbed_dir")
    run_test_program "$client" pull "$pipe" "$registry/test/multi:1.0" "$multi_id"
    run_test_program "$client" pull-fails "$pipe" "$registry/test/no-such-image:1.0" 5
    # Hostile Windows layers: "..", a name with "\" separators, an alternate data stream.
    for attack in traversal backslash stream; do
        run_test_program "$client" pull-fails "$pipe" "$registry/hostile/windows-$attack:1.0" 3
    done
    result "no hostile entry lands anywhere on drive C:" \
        "$(find "$WINEPREFIX/drive_c" -name '*escape.txt*' | grep -q .; [ $? = 1 ]; echo $?)" \
        "$(find "$WINEPREFIX/drive_c" -name '*escape.txt*' | head -n 3 | tr '\n' ' ')"
    run_test_program "$client" remove "$pipe" "$registry/test/windows-hostprocess:1.0"
    run_test_program "$client" remove "$pipe" "$registry/test/multi:1.0"
    check_layers_removed "$layers"
    run_test_program "$client" pull "$pipe" "$tls/test/windows-hostprocess:1.0"
    run_test_program "$client" remove "$pipe" "$tls/test/windows-hostprocess:1.0"
}

check_image_service() {
    local pipe_name=hostcri-wine-images-$$ root_dir=C:/hostcri-image-test log config pid
    local registry testbed_dir tls certs_d status
    log=$build_dir/hostcri-images.log
    config=$build_dir/hostcri-images.yaml
    run_test_program "$tests_build_dir/layer_windows_test.exe"
    if ! find_image_testbed; then
        result "registry testbed for the image checks" 1 "see $build_dir/testbed-start.log"
        stop_image_testbed
        return
    fi
    registry=$(. "$image_testbed_env" && echo "$TESTBED_HTTP")
    testbed_dir=$(. "$image_testbed_env" && echo "$TESTBED_DIR")
    tls=localhost:$(. "$image_testbed_env" && echo "$TESTBED_TLS_PORT")
    certs_d=$(. "$image_testbed_env" && echo "$TESTBED_CERTS_D")
    grep -q "/test/windows-hostprocess:1.0 " "$testbed_dir/images.txt" 2>/dev/null
    result "the testbed has test/windows-hostprocess:1.0" $? "run test/testbed/make-images.sh"
    printf 'registries:\n  "%s":\n    insecure: true\n' "$registry" >"$config"

    wine "$build_dir/hostcri.exe" --config "Z:$config" --certs-dir "Z:$certs_d" \
        --listen "npipe:////./pipe/$pipe_name" --root "$root_dir" --state "$root_dir/state" \
        --log-level debug >"$log" 2>&1 &
    pid=$!
    wait_for_daemon "$log" "$pid"
    result "image daemon serves its pipe" $? "$(tail -n 5 "$log" | tr -d '\r')"
    grep -q "platform windows/[a-z0-9]* (os.version [0-9]*\.[0-9]*\.[0-9]*" "$log"
    result "the daemon matches images by the host's os.version" $? \
        "$(grep -m 1 'images: root' "$log" | tr -d '\r')"
    if kill -0 "$pid" 2>/dev/null; then
        run_image_checks "\\\\.\\pipe\\$pipe_name" "$registry" "$testbed_dir" \
            "$WINEPREFIX/drive_c/hostcri-image-test/layers" "$tls"
        kill -INT "$pid"
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        wait "$pid"
        status=$?
        result "image daemon stops on Ctrl-C with status 0" "$([ $status = 0 ]; echo $?)" \
            "status $status"
    fi
    stop_image_testbed
}
