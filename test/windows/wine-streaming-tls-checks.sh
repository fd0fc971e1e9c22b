# The streaming TLS checks of run-wine-tests.sh, which sources this file and calls
# check_streaming_tls after Wine has started and wine-image-checks.sh is sourced. openssl makes
# certificates for 127.0.0.1. hostcri.exe must refuse to start, naming the file and the cause,
# with a missing certificate or key, garbage instead of PEM, and a key of another certificate.
# With an RSA certificate it serves https and deletes its key container when it stops, and it
# deletes the container that a killed daemon left behind. Then
# streaming_tls_check.exe runs an exec over SPDY/3.1 inside TLS with Schannel as the client.
#
# Under Wine 8.0 the TLS handshake itself is an expected failure (XFAIL): its schannel has no
# server side (AcceptSecurityContext returns SEC_E_UNSUPPORTED_FUNCTION), and its ncrypt cannot
# import EC keys (NCryptImportKey returns NTE_NOT_SUPPORTED for PKCS#8 blobs). Loading RSA keys
# and acquiring the server credentials work there.
#
# Uses the testbed of find_image_testbed (wine-image-checks.sh). Needs from run-wine-tests.sh:
# build_dir, tests_build_dir, result, count_checks, run_test_program, wait_for_daemon,
# expected_failures, a started WINEPREFIX.

# Prints an XFAIL line for a check that Wine cannot pass, and counts it.
tls_expected_failure() {
    echo "XFAIL $1: $2"
    expected_failures=$((expected_failures + 1))
}

# Writes the certificates and keys of the checks to $1.
make_tls_files() {
    local dir=$1
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/rsa-key.pem" -out "$dir/rsa-cert.pem" \
        -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >"$dir/openssl.log" 2>&1 &&
        openssl rsa -in "$dir/rsa-key.pem" -traditional -out "$dir/rsa-key-pkcs1.pem" \
            >>"$dir/openssl.log" 2>&1 &&
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout "$dir/ec-key.pem" -out "$dir/ec-cert.pem" -days 2 -subj /CN=127.0.0.1 \
            -addext subjectAltName=IP:127.0.0.1 >>"$dir/openssl.log" 2>&1 &&
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/other-key.pem" \
            >>"$dir/openssl.log" 2>&1 || return 1
    printf -- '-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n' \
        >"$dir/garbage-cert.pem"
    printf 'this is no PEM file\n' >"$dir/garbage-key.pem"
}

# Starts hostcri.exe with streaming certificate $2 and key $3 and expects it to stop at once
# with status 1 and a log that contains $4. $1 names the check.
expect_tls_start_failure() {
    local name=$1 cert=$2 key=$3 expected=$4 log=$build_dir/hostcri-tls-error.log status
    timeout 120 wine "$build_dir/hostcri.exe" --listen "npipe:////./pipe/hostcri-wine-tls-error-$$" \
        --root C:/hostcri-tls-error --state C:/hostcri-tls-error/state \
        --streaming-tls-cert "$cert" --streaming-tls-key "$key" >"$log" 2>&1
    status=$?
    result "$name stops the start" "$([ $status = 1 ]; echo $?)" "status $status"
    grep -qF -- "$expected" "$log"
    result "$name: the error names the file and the cause" $? \
        "expected \"$expected\" in: $(grep -m 1 'cannot start' "$log" | tr -d '\r')"
}

# Stops the daemon $1 with Ctrl-C and waits for it.
stop_tls_daemon() {
    kill -INT "$1"
    for _ in $(seq 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$1" 2>/dev/null && kill -KILL "$1"
    wait "$1" 2>/dev/null
}

# Lists the CryptoAPI key containers of hostcri under Wine (HKCU\Software\Wine\Crypto\RSA).
wine_tls_key_containers() {
    timeout 60 wine reg query 'HKCU\Software\Wine\Crypto\RSA' 2>/dev/null | tr -d '\r' |
        grep -o 'hostcri-streaming-tls-[0-9-]*'
}

# Starts hostcri.exe with certificate $3 and key $4 and checks that it serves https and, after
# Ctrl-C, leaves no key container behind. $1 names the key form in file names, $2 in checks.
check_tls_start() {
    local slug=$1 form=$2 cert=$3 key=$4 log=$build_dir/hostcri-tls-$1.log pid
    # Created before the daemon starts, so that wait_for_daemon never reads a missing file.
    : >"$log"
    wine "$build_dir/hostcri.exe" --listen "npipe:////./pipe/hostcri-wine-tls-$slug-$$" \
        --root "C:/hostcri-tls-$slug" --state "C:/hostcri-tls-$slug/state" --log-level debug \
        --streaming-tls-cert "$cert" --streaming-tls-key "$key" >>"$log" 2>&1 &
    pid=$!
    wait_for_daemon "$log" "$pid"
    result "a daemon with an $form key starts" $? "$(grep -m 1 'cannot start' "$log" | tr -d '\r')"
    kill -0 "$pid" 2>/dev/null || return
    grep -q "streaming: serving on https://127.0.0.1:" "$log"
    result "the streaming server with an $form key serves https" $? \
        "$(grep -m 1 'streaming:' "$log" | tr -d '\r')"
    wine_tls_key_containers | grep -q .
    result "the $form key is in a key container while the daemon runs" $? "no container found"
    stop_tls_daemon "$pid"
    result "no key container is left after the daemon with an $form key stops" \
        "$(wine_tls_key_containers | grep -q .; [ $? = 1 ]; echo $?)" "$(wine_tls_key_containers)"
}

# Kills a daemon with an RSA key, so that its key container stays behind, and starts another:
# that one must delete the container of the killed process and keep its own.
check_tls_stale_key() {
    local cert=$1 key=$2 log=$build_dir/hostcri-tls-killed.log pid stale
    : >"$log"
    wine "$build_dir/hostcri.exe" --listen "npipe:////./pipe/hostcri-wine-tls-killed-$$" \
        --root C:/hostcri-tls-killed --state C:/hostcri-tls-killed/state \
        --streaming-tls-cert "$cert" --streaming-tls-key "$key" >>"$log" 2>&1 &
    pid=$!
    wait_for_daemon "$log" "$pid" || { result "a daemon to kill starts" 1; return; }
    stale=$(wine_tls_key_containers | head -n 1)
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    result "a killed daemon leaves its key container behind" "$([ -n "$stale" ] &&
        wine_tls_key_containers | grep -qx "$stale"; echo $?)" "containers: $(wine_tls_key_containers)"

    log=$build_dir/hostcri-tls-after-kill.log
    : >"$log"
    wine "$build_dir/hostcri.exe" --listen "npipe:////./pipe/hostcri-wine-tls-killed-$$" \
        --root C:/hostcri-tls-killed --state C:/hostcri-tls-killed/state --log-level debug \
        --streaming-tls-cert "$cert" --streaming-tls-key "$key" >>"$log" 2>&1 &
    pid=$!
    wait_for_daemon "$log" "$pid"
    result "the next daemon starts" $? "$(grep -m 1 'cannot start' "$log" | tr -d '\r')"
    result "the next daemon deletes the killed daemon's key container" \
        "$(wine_tls_key_containers | grep -qx "$stale"; [ $? = 1 ]; echo $?)" \
        "containers: $(wine_tls_key_containers | tr '\n' ' ')"
    grep -q "deleted the TLS key container $stale of a stopped process" "$log"
    result "the next daemon logs the deleted key container" $? "no such line in $log"
    result "the next daemon keeps its own key container" \
        "$(wine_tls_key_containers | grep -q .; echo $?)" "no container found"
    stop_tls_daemon "$pid"
}

check_tls_errors() {
    local dir=$1 win_dir="Z:$1"
    expect_tls_start_failure "a missing certificate file" C:/missing/cert.pem "$win_dir/rsa-key.pem" \
        "load streaming TLS certificate C:/missing/cert.pem: cannot open the file"
    expect_tls_start_failure "a missing key file" "$win_dir/rsa-cert.pem" C:/missing/key.pem \
        "load streaming TLS key C:/missing/key.pem: cannot open the file"
    expect_tls_start_failure "a certificate file of garbage" "$win_dir/garbage-cert.pem" \
        "$win_dir/rsa-key.pem" \
        "load streaming TLS certificate $win_dir/garbage-cert.pem: line 1: the CERTIFICATE block holds invalid base64"
    expect_tls_start_failure "a key file without PEM" "$win_dir/rsa-cert.pem" \
        "$win_dir/garbage-key.pem" "load streaming TLS key $win_dir/garbage-key.pem: no private key found"
    expect_tls_start_failure "a key of another certificate" "$win_dir/rsa-cert.pem" \
        "$win_dir/other-key.pem" \
        "load streaming TLS key $win_dir/other-key.pem: it is not the private key of the certificate in $win_dir/rsa-cert.pem"
}

# An exec over SPDY/3.1 inside TLS through a daemon with the RSA certificate.
check_tls_exec() {
    local dir=$1 win_dir="Z:$1" registry pipe=hostcri-wine-tls-exec-$$ root_dir=C:/hostcri-tls-exec
    local log=$build_dir/hostcri-tls-exec.log config=$build_dir/hostcri-tls-exec.yaml
    local test_dir=$build_dir/tls-exec-test pid
    registry=$(. "$image_testbed_env" && echo "$TESTBED_HTTP")
    printf 'registries:\n  "%s":\n    insecure: true\n' "$registry" >"$config"
    mkdir -p "$test_dir"
    : >"$log"
    wine "$build_dir/hostcri.exe" --config "Z:$config" --listen "npipe:////./pipe/$pipe" \
        --root "$root_dir" --state "$root_dir/state" --log-level debug \
        --streaming-tls-cert "$win_dir/rsa-cert.pem" --streaming-tls-key "$win_dir/rsa-key.pem" \
        >>"$log" 2>&1 &
    pid=$!
    wait_for_daemon "$log" "$pid"
    result "TLS exec daemon serves its pipe" $? "$(tail -n 5 "$log" | tr -d '\r')"
    kill -0 "$pid" 2>/dev/null || return
    run_test_program "$tests_build_dir/streaming_tls_check.exe" run "\\\\.\\pipe\\$pipe" \
        "$registry/test/windows-hostprocess:1.0" "Z:$(echo "$test_dir" | tr / '\\')" \
        "$win_dir/rsa-cert.pem"
    grep -q "streaming: TLS handshake with 127.0.0.1 failed: " "$log"
    result "the daemon logs a failed TLS handshake with its cause" $? "no such line in $log"
    stop_tls_daemon "$pid"
    result "no process of the TLS test container outlives the daemon" \
        "$(pgrep -f "$(basename "$build_dir").*streaming_tls_check.exe\"? sleep" >/dev/null
           [ $? = 1 ]; echo $?)" \
        "$(pgrep -af 'streaming_tls_check.exe"? sleep' | head -n 3 | tr '\n' ' ')"
}

check_streaming_tls() {
    local dir=$build_dir/streaming-tls
    rm -rf "$dir"
    make_tls_files "$dir"
    result "openssl makes the test certificates" $? "see $dir/openssl.log"
    [ -f "$dir/other-key.pem" ] || return

    check_tls_errors "$dir"
    check_tls_start rsa-pkcs8 "RSA PKCS#8" "Z:$dir/rsa-cert.pem" "Z:$dir/rsa-key.pem"
    check_tls_start rsa-pkcs1 "RSA PKCS#1" "Z:$dir/rsa-cert.pem" "Z:$dir/rsa-key-pkcs1.pem"
    check_tls_stale_key "Z:$dir/rsa-cert.pem" "Z:$dir/rsa-key.pem"

    # An EC key goes through NCryptImportKey, which Wine 8.0 does not implement for PKCS#8.
    local log=$build_dir/hostcri-tls-ec.log pid
    : >"$log"
    wine "$build_dir/hostcri.exe" --listen "npipe:////./pipe/hostcri-wine-tls-ec-$$" \
        --root C:/hostcri-tls-ec --state C:/hostcri-tls-ec/state \
        --streaming-tls-cert "Z:$dir/ec-cert.pem" --streaming-tls-key "Z:$dir/ec-key.pem" \
        >>"$log" 2>&1 &
    pid=$!
    if wait_for_daemon "$log" "$pid"; then
        result "a daemon with an EC key starts" 0
        stop_tls_daemon "$pid"
    elif wait "$pid" 2>/dev/null; grep -q "NCryptImportKey of the EC private key failed" "$log"; then
        tls_expected_failure "a daemon with an EC key starts" \
            "Wine 8.0's ncrypt does not import PKCS#8 keys: $(grep -m 1 -o 'NCryptImportKey.*' "$log" | tr -d '\r')"
    else
        result "a daemon with an EC key starts" 1 "$(grep -m 1 'cannot start' "$log" | tr -d '\r')"
    fi

    if ! find_image_testbed; then
        result "registry testbed for the TLS exec" 1 "see $build_dir/testbed-start.log"
        stop_image_testbed
        return
    fi
    check_tls_exec "$dir"
    stop_image_testbed
}
