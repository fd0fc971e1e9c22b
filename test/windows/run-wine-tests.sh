#!/bin/bash
# Cross-builds hostcri.exe and the Windows test programs with mingw-w64, checks that they import
# only Windows system DLLs, and runs them headless under Wine in a fresh WINEPREFIX. The daemon
# serves a test pipe and cri_pipe_client.exe calls it. A second daemon on the same pipe must fail
# to start, and Ctrl-C (SIGINT to Wine) must stop the daemon cleanly. job_windows_test.exe
# starts and kills process trees in job objects. Then hostcri.exe registers itself as a service,
# which sc.exe starts and stops while service_check.exe and cri_pipe_client.exe check it, and
# cri_runtime_client.exe runs HostProcess pods and containers through the daemon. The last
# line of output is "N passed, N failed"; the exit status is non-zero when a check failed. An
# "XFAIL" line is a check that fails because Wine lacks an API; it is counted apart and passes
# or fails on Windows.
#
# Needs the dependency prefix of scripts/windows/build-deps.sh. Installs wine and
# protobuf-c-compiler with apt when they are missing (as root).
#
# Environment: HOSTCRI_WINDEPS_PREFIX (default /opt/hostcri-windeps), BUILD_DIR (default
# build-windows in the source tree), JOBS (default nproc), KEEP_WINEPREFIX=1 keeps the Wine
# prefix and logs for debugging.
set -uo pipefail

cd "$(dirname "$0")/../.."
source_dir=$(pwd)
prefix=${HOSTCRI_WINDEPS_PREFIX:-/opt/hostcri-windeps}
toolchain=$prefix/mingw-w64-x86_64.cmake
build_dir=${BUILD_DIR:-$source_dir/build-windows}
tests_build_dir=$build_dir/test-windows
jobs=${JOBS:-$(nproc)}
pipe_name=hostcri-wine-test-$$
endpoint="npipe:////./pipe/$pipe_name"
service_pipe_name=hostcri-wine-service-$$
# Windows system DLLs; anything else would have to ship beside hostcri.exe.
allowed_dlls='^(kernel32|msvcrt|advapi32|bcrypt|crypt32|ncrypt|ws2_32|iphlpapi|psapi|user32|userenv|shell32|ole32|dbghelp|ntdll|secur32|normaliz|wldap32|shlwapi)\.dll$'

passed=0
failed=0
expected_failures=0
result() { # result NAME OK [DETAIL]
    if [ "$2" = 0 ]; then
        echo "PASS $1"
        passed=$((passed + 1))
    else
        echo "FAIL $1${3:+: $3}"
        failed=$((failed + 1))
    fi
}

finish() {
    echo
    echo "$expected_failures expected failures under Wine (XFAIL lines)"
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit
}

install_missing_tools() {
    local missing=""
    command -v wine >/dev/null || missing="$missing wine wine64"
    command -v protoc-c >/dev/null || missing="$missing protobuf-c-compiler"
    command -v sqlite3 >/dev/null || missing="$missing sqlite3"
    [ -z "$missing" ] && return 0
    echo "installing:$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing \
        >"$build_dir/apt.log" 2>&1 || { tail -n 20 "$build_dir/apt.log"; return 1; }
}

build_all() {
    cmake -S . -B "$build_dir" -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DHOSTCRI_TESTS=OFF \
        -DHOSTCRI_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build_dir/cmake.log" 2>&1 &&
        cmake --build "$build_dir" -j"$jobs" --target hostcri hostcri-monitor >"$build_dir/build.log" 2>&1
    result "build hostcri.exe" $? "see $build_dir/cmake.log and build.log" || true
    [ -f "$build_dir/hostcri.exe" ] || { tail -n 30 "$build_dir/build.log"; return 1; }

    cmake -S test/windows -B "$tests_build_dir" -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
        -DCMAKE_BUILD_TYPE=Release >"$tests_build_dir.cmake.log" 2>&1 &&
        cmake --build "$tests_build_dir" -j"$jobs" >"$tests_build_dir.build.log" 2>&1
    result "build the test programs" $? "see $tests_build_dir.build.log"
    [ -f "$tests_build_dir/cri_pipe_client.exe" ] || { tail -n 30 "$tests_build_dir.build.log"; return 1; }
}

check_imports() {
    local exe dll bad
    for exe in "$build_dir/hostcri.exe" "$tests_build_dir"/*.exe; do
        bad=""
        for dll in $(x86_64-w64-mingw32-objdump -p "$exe" | awk '/DLL Name:/ {print tolower($3)}' | sort -u); do
            [[ $dll =~ $allowed_dlls ]] || bad="$bad $dll"
        done
        result "$(basename "$exe") imports only Windows system DLLs" "$([ -z "$bad" ]; echo $?)" \
            "imports$bad"
    done
}

start_wine() {
    WINEPREFIX=$(mktemp -d /tmp/hostcri-wine.XXXXXX)
    export WINEPREFIX WINEDEBUG=-all WINEARCH=win64 WINEDLLOVERRIDES="mscoree,mshtml="
    unset DISPLAY WAYLAND_DISPLAY
    timeout 300 wine wineboot --init >"$build_dir/wineboot.log" 2>&1
    timeout 300 wineserver -w
}

stop_wine() {
    [ -n "${WINEPREFIX:-}" ] || return 0
    wineserver -k 2>/dev/null || true
    if [ "${KEEP_WINEPREFIX:-0}" = 1 ]; then
        echo "kept WINEPREFIX=$WINEPREFIX"
    else
        rm -rf "$WINEPREFIX"
    fi
}

# Waits until the daemon logs that it serves, or exits. Returns 0 when it serves.
wait_for_daemon() {
    local log=$1 pid=$2
    for _ in $(seq 600); do
        grep -q "serving CRI v1 on" "$log" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}

# Prints the PASS, FAIL and XFAIL lines of a test program's output and counts them.
count_checks() {
    cat "$1"
    passed=$((passed + $(grep -c '^PASS ' "$1")))
    failed=$((failed + $(grep -c '^FAIL ' "$1")))
    expected_failures=$((expected_failures + $(grep -c '^XFAIL ' "$1")))
}

# Runs a test program that prints PASS/FAIL lines and a summary, and counts its checks.
run_test_program() {
    local exe=$1 output
    shift
    output=$build_dir/$(basename "$exe" .exe).out
    timeout 300 wine "$exe" "$@" 2>&1 | tr -d '\r' >"$output"
    count_checks "$output"
    grep -q '^[0-9]* passed, [0-9]* failed$' "$output"
    result "$(basename "$exe") ran to the end" $? "no summary line (crashed or timed out)"
}

# Root and state directories of their own, so that the second daemons below reach the endpoint
# checks instead of the first daemon's directory locks.
second_daemon_dirs=(--root 'C:\ProgramData\hostcri-second' --state 'C:\ProgramData\hostcri-second\run')

check_second_daemon() {
    local log=$build_dir/hostcri-second.log status
    timeout 300 wine "$build_dir/hostcri.exe" --listen "$endpoint" "${second_daemon_dirs[@]}" \
        >"$log" 2>&1
    status=$?
    result "second daemon on the same pipe exits with status 1" "$([ $status = 1 ]; echo $?)" \
        "status $status"
    grep -q "already owns the pipe" "$log"
    result "second daemon names the pipe owner conflict" $? "$(tail -n 3 "$log" | tr -d '\r')"

    log=$build_dir/hostcri-same-root.log
    timeout 300 wine "$build_dir/hostcri.exe" --listen "npipe:////./pipe/$pipe_name-same-root" \
        >"$log" 2>&1
    status=$?
    result "second daemon on the same root exits with status 1" "$([ $status = 1 ]; echo $?)" \
        "status $status"
    grep -q "is in use by another hostcri daemon (pid [0-9]* holds" "$log"
    result "second daemon names the lock holder of the root" $? "$(tail -n 1 "$log" | tr -d '\r')"
}

check_unix_endpoint() {
    local log=$build_dir/hostcri-unix.log status
    timeout 300 wine "$build_dir/hostcri.exe" --listen unix:///run/hostcri-test.sock \
        "${second_daemon_dirs[@]}" >"$log" 2>&1
    status=$?
    result "unix socket endpoint is rejected" "$([ $status = 1 ] && grep -q 'not supported on Windows' "$log"; echo $?)" \
        "status $status: $(tail -n 1 "$log" | tr -d '\r')"
}

stop_daemon() {
    local log=$1 pid=$2 status
    # Wine turns SIGINT into a CTRL_C_EVENT, which libuv reports as SIGINT.
    kill -INT "$pid"
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        result "daemon stops on Ctrl-C" 1 "still running after SIGINT"
        return
    fi
    wait "$pid"
    status=$?
    result "daemon stops on Ctrl-C with status 0" "$([ $status = 0 ]; echo $?)" "status $status"
    grep -q "hostcri stopped" "$log"
    result "daemon logs its stop" $? "$(tail -n 3 "$log" | tr -d '\r')"
}

# Prints a field of "sc query hostcri": STATE (1 stopped, 4 running) or WIN32_EXIT_CODE.
service_field() {
    timeout 60 wine sc query hostcri 2>/dev/null | tr -d '\r' | awk -v field="$1" '$1 == field {print $3}'
}

# Waits until the service is in state $1. Returns 0 when it is.
wait_for_service_state() {
    for _ in $(seq 150); do
        [ "$(service_field STATE)" = "$1" ] && return 0
        sleep 0.4
    done
    return 1
}

register_service() {
    local out=$build_dir/service-register.out status
    timeout 120 wine "$build_dir/hostcri.exe" --register-service "$@" 2>&1 | tr -d '\r' >"$out"
    status=${PIPESTATUS[0]}
    result "--register-service exits 0" "$status" "status $status: $(tail -n 3 "$out")"
    grep '^hostcri: warning' "$out"
    run_test_program "$tests_build_dir/service_check.exe" registered hostcri "$service_pipe_name"
    timeout 120 wine "$build_dir/hostcri.exe" --register-service "$@" >"$out" 2>&1
    status=$?
    result "--register-service of an existing service fails" \
        "$([ $status = 1 ] && grep -q 'already exists' "$out"; echo $?)" "status $status"
}

# Stops the service while cri_pipe_client.exe holds a connection open: the connection gets
# GOAWAY, and the service drains, reports STOPPED with exit code 0 and logs each step.
stop_service() {
    local log=$1 client_out=$build_dir/service-goaway.out client_pid
    # Written unfiltered, because tr would hold back the line the loop below waits for.
    timeout 300 wine "$tests_build_dir/cri_pipe_client.exe" "\\\\.\\pipe\\$service_pipe_name" goaway \
        >"$client_out.raw" 2>&1 &
    client_pid=$!
    for _ in $(seq 300); do
        grep -q "WAITING for the stop" "$client_out.raw" && break
        kill -0 "$client_pid" 2>/dev/null || break
        sleep 0.2
    done
    timeout 120 wine sc stop hostcri >/dev/null 2>&1
    result "sc stop hostcri" $?
    wait "$client_pid"
    tr -d '\r' <"$client_out.raw" >"$client_out"
    count_checks "$client_out"
    wait_for_service_state 1
    result "service reports STOPPED after the drain" $? "state $(service_field STATE)"
    result "service stops with exit code 0" "$([ "$(service_field WIN32_EXIT_CODE)" = 0 ]; echo $?)" \
        "WIN32_EXIT_CODE $(service_field WIN32_EXIT_CODE)"
    grep -q "service control manager requested a stop" "$log" && grep -q "CRI server stopped" "$log" &&
        grep -q "hostcri stopped" "$log"
    result "service logs the stop request, the drain and its end" $? "$(tail -n 3 "$log" | tr -d '\r')"
}

# "config default" prints the Windows form of every path default, and "config check" accepts
# that output and deploy/windows/config.yaml.
check_windows_defaults() {
    local defaults=$WINEPREFIX/drive_c/hostcri-defaults.yaml expected status missing=""
    timeout 120 wine "$build_dir/hostcri.exe" config default 2>&1 | tr -d '\r' >"$defaults"
    for expected in 'listen: "npipe:////./pipe/hostcri"' 'root: "C:\\ProgramData\\hostcri"' \
        'state: "C:\\ProgramData\\hostcri\\run"' 'certs_dir: "C:\\ProgramData\\hostcri\\certs.d"' \
        'rootfs_mount_point: "C:\\hpc"' 'default_path: "C:\\Windows\\System32;'; do
        grep -qF "$expected" "$defaults" || missing="$missing [$expected]"
    done
    result "config default prints the Windows paths" "$([ -z "$missing" ]; echo $?)" "missing$missing"
    timeout 120 wine "$build_dir/hostcri.exe" config check 'C:\hostcri-defaults.yaml' >/dev/null 2>&1
    result "config check accepts the Windows defaults" $?
    timeout 120 wine "$build_dir/hostcri.exe" config check deploy/windows/config.yaml >"$build_dir/config-check.out" 2>&1
    status=$?
    result "config check accepts deploy/windows/config.yaml" "$status" \
        "$(tr -d '\r' <"$build_dir/config-check.out")"
}

# A service whose configuration file became invalid after --register-service must stop with
# its exit code 2 as a service-specific error (so the recovery actions apply) and write the
# error to the log file in the state directory the file names before the invalid key.
check_service_config_error() {
    local dir=$WINEPREFIX/drive_c/hostcri-service-bad log out=$build_dir/service-bad.out status attempt
    log=$dir/state/hostcri.log
    mkdir -p "$dir"
    : >"$out"
    printf 'state: C:\\hostcri-service-bad\\state\nlog_level: info\n' >"$dir/config.yaml"
    # NOTE: under Wine this registration once failed without any output, right after
    # check_service had unregistered the same name and checked that it was gone. The cause is
    # not known, so a failure is tried once more and the first status is kept in the detail.
    for attempt in 1 2; do
        timeout 120 wine "$build_dir/hostcri.exe" --register-service \
            --config 'C:\hostcri-service-bad\config.yaml' \
            --listen "npipe:////./pipe/$service_pipe_name-bad" >>"$out" 2>&1
        status=$?
        [ "$status" = 0 ] && break
        echo "attempt $attempt: status $status" >>"$out"
        sleep 1
    done
    result "--register-service with a config file exits 0" $status \
        "$(tail -n 4 "$out" | tr -d '\r')"
    printf 'state: C:\\hostcri-service-bad\\state\nlog_level: loud\n' >"$dir/config.yaml"
    timeout 120 wine sc start hostcri >/dev/null 2>&1
    wait_for_service_state 1
    result "service with an invalid config file stops" $? "state $(service_field STATE)"
    # 1066 is ERROR_SERVICE_SPECIFIC_ERROR; the daemon's exit code 2 follows as SERVICE_EXIT_CODE.
    result "service reports exit code 2 as a service-specific error" \
        "$([ "$(service_field WIN32_EXIT_CODE)" = 1066 ] && [ "$(service_field SERVICE_EXIT_CODE)" = 2 ]; echo $?)" \
        "WIN32_EXIT_CODE $(service_field WIN32_EXIT_CODE), SERVICE_EXIT_CODE $(service_field SERVICE_EXIT_CODE)"
    grep -q 'invalid value "loud" for log_level' "$log" 2>/dev/null
    result "service logs the config error to its state directory" $? "no error in $log"
    timeout 120 wine "$build_dir/hostcri.exe" --unregister-service >"$out" 2>&1
    result "--unregister-service of the stopped service exits 0" $? "$(tail -n 3 "$out" | tr -d '\r')"
}

# Registers hostcri.exe as a service, starts it with sc.exe, calls it, stops and unregisters it.
check_service() {
    local log=$WINEPREFIX/drive_c/hostcri-service/state/hostcri.log out=$build_dir/service.out status
    # Keeps wineserver, and with it the service, alive between the sc.exe calls.
    wineserver -p
    timeout 120 wine "$build_dir/hostcri.exe" --service --listen "npipe:////./pipe/$service_pipe_name" \
        >"$out" 2>&1
    status=$?
    result "--service outside the service control manager fails" \
        "$([ $status = 1 ] && grep -q 'service control manager only' "$out"; echo $?)" \
        "status $status: $(tail -n 1 "$out" | tr -d '\r')"

    register_service --listen "npipe:////./pipe/$service_pipe_name" \
        --root 'C:\hostcri-service\root' --state 'C:\hostcri-service\state' --log-level debug
    timeout 120 wine sc start hostcri >"$out" 2>&1
    result "sc start hostcri" $? "$(tail -n 3 "$out" | tr -d '\r')"
    wait_for_service_state 4
    result "service reports RUNNING" $? "state $(service_field STATE)"
    grep -q "serving CRI v1 on npipe:////./pipe/$service_pipe_name" "$log"
    result "service logs to its state directory" $? "no serving line in $log"
    run_test_program "$tests_build_dir/cri_pipe_client.exe" "\\\\.\\pipe\\$service_pipe_name" version
    stop_service "$log"

    timeout 120 wine "$build_dir/hostcri.exe" --unregister-service >"$out" 2>&1
    result "--unregister-service exits 0" $? "$(tail -n 3 "$out" | tr -d '\r')"
    run_test_program "$tests_build_dir/service_check.exe" deleted hostcri
    check_service_config_error
}

# check_image_service: the ImageService through the real hostcri.exe and the registry testbed.
source test/windows/wine-image-checks.sh
# check_runtime_service: HostProcess pods and containers through the real hostcri.exe.
source test/windows/wine-runtime-checks.sh
# check_streaming_tls: the streaming server with a TLS certificate.
source test/windows/wine-streaming-tls-checks.sh

main() {
    local daemon_log daemon_pid
    mkdir -p "$build_dir" "$tests_build_dir"
    [ -f "$toolchain" ] || { result "dependency prefix" 1 "$toolchain missing: run scripts/windows/build-deps.sh"; finish; }
    install_missing_tools || { result "install wine and protoc-c" 1; finish; }
    build_all || finish
    check_imports

    trap stop_wine EXIT
    start_wine
    daemon_log=$build_dir/hostcri.log
    wine "$build_dir/hostcri.exe" --listen "$endpoint" --log-level debug >"$daemon_log" 2>&1 &
    daemon_pid=$!
    wait_for_daemon "$daemon_log" "$daemon_pid"
    result "daemon serves $endpoint" $? "$(tail -n 5 "$daemon_log" | tr -d '\r')"
    if kill -0 "$daemon_pid" 2>/dev/null; then
        run_test_program "$tests_build_dir/cri_pipe_client.exe" "\\\\.\\pipe\\$pipe_name"
        check_second_daemon
        check_unix_endpoint
        stop_daemon "$daemon_log" "$daemon_pid"
    fi
    check_windows_defaults
    check_service
    run_test_program "$tests_build_dir/job_windows_test.exe"
    # The Linux unit tests of the backend's portable parts and of the monitor file formats it
    # shares, built with test/windows/cmocka/.
    for unit_test in winmon_spec job_limits winuser winenv monitor_format; do
        run_test_program "$tests_build_dir/unit_$unit_test.exe"
    done
    check_runtime_service
    check_streaming_tls
    check_image_service
    finish
}

main "$@"
