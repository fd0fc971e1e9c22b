# The RuntimeService checks of run-wine-tests.sh, which sources this file and calls
# check_runtime_service after Wine has started and wine-image-checks.sh is sourced. The real
# hostcri.exe pulls test/windows-hostprocess:1.0 from the registry testbed over plain HTTP, and
# cri_runtime_client.exe runs a HostProcess pod and its containers through the daemon's pipe:
# exit codes, the image's files under C:\hpc\<id>, substitutions, a missing program, CRI logs,
# ExecSync, and a StopContainer that must end a process tree; streaming_client.exe runs Exec,
# Attach and PortForward through the streaming server. The daemon's own checks follow:
# the root file systems are gone, and no container process outlives the test. Last, a daemon is
# killed and restarted, and must remove the root file systems of the containers whose records
# were lost meanwhile (check_rootfs_after_kill, which edits runtime.db with sqlite3).
#
# Uses the testbed of find_image_testbed (wine-image-checks.sh). Needs from run-wine-tests.sh:
# build_dir, tests_build_dir, result, run_test_program, wait_for_daemon, a started WINEPREFIX.

# Prints the id that "cri_runtime_client.exe crash-setup" printed for container $2 in file $1.
crash_container_id() {
    awk -v name="$2" '$1 == "ID" && $2 == name {print $3}' "$1"
}

# Waits up to 30 s until path $1 is gone. Returns 0 when it is.
wait_until_gone() {
    for _ in $(seq 150); do
        [ -e "$1" ] || return 0
        sleep 0.2
    done
    return 1
}

# Kills a daemon that has containers, removes some of their records from runtime.db (as if they
# were removed while the daemon was down), and restarts it: the root file systems of the lost
# containers must go, in C:\hpc and under a rootfs-location, while the kept container's, a
# folder with a container-like name that hostcri never recorded and the volume source stay.
check_rootfs_after_kill() {
    local registry=$1 test_dir=$2 pipe=hostcri-wine-crash-$$ root_dir=C:/hostcri-crash-test
    local log=$build_dir/hostcri-crash.log setup_out=$build_dir/crash-setup.out pid name id
    local hpc=$WINEPREFIX/drive_c/hpc db=$WINEPREFIX/drive_c/hostcri-crash-test/runtime.db
    local decoy=$WINEPREFIX/drive_c/hpc/ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
    local lost_ids=()

    wine "$build_dir/hostcri.exe" --config "Z:$config" --listen "npipe:////./pipe/$pipe" \
        --root "$root_dir" --state "$root_dir/state" --log-level debug >"$log" 2>&1 &
    pid=$!
    wait_for_daemon "$log" "$pid"
    result "crash-test daemon serves its pipe" $? "$(tail -n 5 "$log" | tr -d '\r')"
    kill -0 "$pid" 2>/dev/null || return
    timeout 300 wine "$tests_build_dir/cri_runtime_client.exe" crash-setup "\\\\.\\pipe\\$pipe" \
        "$registry/test/windows-hostprocess:1.0" "Z:$(echo "$test_dir" | tr / '\\')" 2>&1 |
        tr -d '\r' >"$setup_out"
    count_checks "$setup_out"
    mkdir -p "$decoy"
    echo decoy >"$decoy/file.txt"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null

    for name in lost lost-running lost-mount lost-location; do
        id=$(crash_container_id "$setup_out" "$name")
        [ -n "$id" ] && lost_ids+=("$id")
    done
    sqlite3 "$db" "DELETE FROM containers WHERE id IN ($(printf "'%s'," "${lost_ids[@]}" | sed 's/,$//'));"
    result "remove the lost containers' records while the daemon is down" $? "$db"

    wine "$build_dir/hostcri.exe" --config "Z:$config" --listen "npipe:////./pipe/$pipe" \
        --root "$root_dir" --state "$root_dir/state" --log-level debug >"$log.restart" 2>&1 &
    pid=$!
    wait_for_daemon "$log.restart" "$pid"
    result "crash-test daemon restarts" $? "$(tail -n 5 "$log.restart" | tr -d '\r')"
    kill -0 "$pid" 2>/dev/null || return
    for name in lost lost-running lost-mount; do
        id=$(crash_container_id "$setup_out" "$name")
        wait_until_gone "$hpc/$id"
        result "restart removes the root file system of $name" \
            "$([ -n "$id" ] && [ ! -e "$hpc/$id" ]; echo $?)" "C:\\hpc\\${id:-(no id)} remains"
    done
    id=$(crash_container_id "$setup_out" lost-location)
    wait_until_gone "$test_dir/crash-pods/$id"
    result "restart removes the root file system under rootfs-location" \
        "$([ -n "$id" ] && [ ! -e "$test_dir/crash-pods/$id" ]; echo $?)" "crash-pods/${id:-(no id)} remains"
    result "restart keeps a folder that hostcri did not record" "$([ -f "$decoy/file.txt" ]; echo $?)"
    rm -rf "$decoy"
    run_test_program "$tests_build_dir/cri_runtime_client.exe" crash-finish "\\\\.\\pipe\\$pipe" \
        "$(crash_container_id "$setup_out" kept)" "Z:$(echo "$test_dir" | tr / '\\')"
    kill -INT "$pid"
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    wait "$pid" 2>/dev/null
}

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
    check_rootfs_after_kill "$registry" "$test_dir"
    result "no process of the test containers outlives the daemon" \
        "$(pgrep -f '(cri_runtime_client|streaming_client).exe"? (tree|sleep)' >/dev/null; [ $? = 1 ]; echo $?)" \
        "$(pgrep -af '(cri_runtime_client|streaming_client).exe"? (tree|sleep)' | head -n 3 | tr '\n' ' ')"
    stop_image_testbed
}
