# The RuntimeService checks of run-wine-tests.sh, which sources this file and calls
# check_runtime_service after Wine has started and wine-image-checks.sh is sourced. The real
# hostcri.exe pulls test/windows-hostprocess:1.0 from the registry testbed over plain HTTP, and
# cri_runtime_client.exe runs a HostProcess pod and its containers through the daemon's pipe:
# exit codes, the image's files under C:\hpc\<id>, substitutions, a missing program, CRI logs,
# ExecSync, and a StopContainer that must end a process tree; streaming_client.exe runs Exec,
# Attach and PortForward through the streaming server. The daemon's own checks follow:
# the root file systems are gone, and no container process outlives the test.
#
# Uses the testbed of find_image_testbed (wine-image-checks.sh). Needs from run-wine-tests.sh:
# build_dir, tests_build_dir, result, run_test_program, wait_for_daemon, a started WINEPREFIX.

check_runtime_service() {
    local pipe_name=hostcri-wine-runtime-$$ root_dir=C:/hostcri-runtime-test log config pid
    local registry test_dir status
    log=$build_dir/hostcri-runtime.log
    config=$build_dir/hostcri-runtime.yaml
    test_dir=$build_dir/runtime-test
    if ! find_image_testbed; then
        result "registry testbed for the runtime checks" 1 "see $build_dir/testbed-start.log"
        stop_image_testbed
        return
    fi
    registry=$(. "$image_testbed_env" && echo "$TESTBED_HTTP")
    printf 'registries:\n  "%s":\n    insecure: true\n' "$registry" >"$config"
    rm -rf "$test_dir" "$WINEPREFIX/drive_c/hpc"
    mkdir -p "$test_dir"

    # A variable of the daemon's own that no container may see (cri_runtime_client.c).
    HOSTCRI_WINE_DAEMON_ONLY=1 wine "$build_dir/hostcri.exe" --config "Z:$config" --listen "npipe:////./pipe/$pipe_name" \
        --root "$root_dir" --state "$root_dir/state" --log-level debug >"$log" 2>&1 &
    pid=$!
    wait_for_daemon "$log" "$pid"
    result "runtime daemon serves its pipe" $? "$(tail -n 5 "$log" | tr -d '\r')"
    if kill -0 "$pid" 2>/dev/null; then
        run_test_program "$tests_build_dir/cri_runtime_client.exe" run "\\\\.\\pipe\\$pipe_name" \
            "$registry/test/windows-hostprocess:1.0" "Z:$(echo "$test_dir" | tr / '\\')"
        # Exec, Attach and PortForward through the streaming server, over SPDY/3.1.
        run_test_program "$tests_build_dir/streaming_client.exe" run "\\\\.\\pipe\\$pipe_name" \
            "$registry/test/windows-hostprocess:1.0" "Z:$(echo "$test_dir" | tr / '\\')"
        result "no container root file system is left in C:\\hpc" \
            "$(find "$WINEPREFIX/drive_c/hpc" -mindepth 1 -maxdepth 1 2>/dev/null | grep -q .
               [ $? = 1 ]; echo $?)" \
            "$(ls "$WINEPREFIX/drive_c/hpc" 2>&1 | tr '\n' ' ')"
        kill -INT "$pid"
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        wait "$pid"
        status=$?
        result "runtime daemon stops on Ctrl-C with status 0" "$([ $status = 0 ]; echo $?)" \
            "status $status"
    fi
    result "no process of the test containers outlives the daemon" \
        "$(pgrep -f '(cri_runtime_client|streaming_client).exe"? (tree|sleep)' >/dev/null; [ $? = 1 ]; echo $?)" \
        "$(pgrep -af '(cri_runtime_client|streaming_client).exe"? (tree|sleep)' | head -n 3 | tr '\n' ' ')"
    stop_image_testbed
}
