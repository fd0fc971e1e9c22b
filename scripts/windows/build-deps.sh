#!/bin/bash
# Cross-build hostcri's C dependencies as static libraries for x86_64-w64-mingw32 from the
# Debian 12 (bookworm) source packages, with Debian's patches applied.
#
# Usage (as root on Debian 12):   scripts/windows/build-deps.sh [PREFIX]
#   PREFIX            install prefix (default /opt/hostcri-windeps); also env PREFIX
#   WINDEPS_WORK      sources, build trees and logs (default /var/tmp/hostcri-windeps-work)
#   JOBS              parallel jobs (default: nproc)
#   WITH_OPENSSL=1    also build OpenSSL (hostcri does not need it on Windows: curl uses
#                     Schannel and digests use CNG/BCrypt). Default 0.
#   SKIP_APT=1        do not touch apt (tools and deb-src already present)
#   WINDEPS_UNPINNED=1  take bookworm's current source version when the pinned one has left
#                     the mirror (a point release replaced it)
#
# Installs what it needs with apt: the mingw-w64 cross compiler, CMake, Ninja and the host
# tools for the sqlite amalgamation; adds a deb-src entry for the configured mirror when
# there is none. Result: $PREFIX/{include,lib,lib/pkgconfig} and the CMake toolchain file
# $PREFIX/mingw-w64-x86_64.cmake (cmake/mingw-w64-x86_64.cmake with the prefix set).
#
# Every .pc file is static-only and relocatable (prefix=${pcfiledir}/../..):
# Libs.private/Requires.private/Cflags.private are folded into Libs/Requires/Cflags, and the
# *_STATIC(LIB) defines each library's headers need are in Cflags, so plain
# `pkg-config --cflags --libs X` (or CMake pkg_check_modules) gives a complete static link line.
#
# Idempotent: a library whose stamp (pinned version + recipe hash) matches is skipped. The
# libraries build in two waves of parallel builds (see WAVES). A failing step stops the script
# with the tail of that library's log.
set -Eeuo pipefail

HOST=x86_64-w64-mingw32
PREFIX=${1:-${PREFIX:-/opt/hostcri-windeps}}
mkdir -p "$PREFIX"; PREFIX=$(cd "$PREFIX" && pwd)
WORK=${WINDEPS_WORK:-/var/tmp/hostcri-windeps-work}
SOURCE_DIR=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$WORK"; WORK=$(cd "$WORK" && pwd)
JOBS=${JOBS:-$(nproc)}
WITH_OPENSSL=${WITH_OPENSSL:-0}
SRC=$WORK/src BLD=$WORK/build LOGS=$WORK/logs STAMPS=$PREFIX/.stamps
mkdir -p "$SRC" "$BLD" "$LOGS" "$STAMPS" "$PREFIX/lib/pkgconfig" "$PREFIX/include"

# ---- pinned Debian 12 (bookworm main) source packages ----------------------
# name:srcpkg=version. Build order matters (archive and curl need zlib/zstd/nghttp2).
PINS=(
  zlib:zlib=1:1.2.13.dfsg-1
  zstd:libzstd=1.5.4+dfsg2-5
  libuv:libuv1=1.44.2-1+deb12u1
  nghttp2:nghttp2=1.52.0-1+deb12u3
  protobuf-c:protobuf-c=1.4.1-1
  jansson:jansson=2.14-2
  libyaml:libyaml=0.2.5-1
  sqlite3:sqlite3=3.40.1-2+deb12u2
  libarchive:libarchive=3.6.2-1+deb12u4
  curl:curl=7.88.1-10+deb12u15
)
if [ "$WITH_OPENSSL" = 1 ]; then PINS+=(openssl:openssl=3.0.20-1~deb12u2); fi

APT_PKGS="gcc-mingw-w64-x86-64-win32 g++-mingw-w64-x86-64-win32 cmake ninja-build make pkgconf dpkg-dev tcl gcc libc6-dev perl"
# g++: nghttp2's CMake project enables C++ even for the C-only library.
# tcl + host gcc: generate sqlite3.c (the amalgamation is not in Debian's source).

CFLAGS_COMMON="-O2 -pipe"
CUR=setup
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
say() { printf '[windeps] %s\n' "$*"; }

exec 9>&2   # the terminal's stderr, for errors raised inside redirected steps
on_err() {
  local rc=$? line=$1 cmd=$2
  trap - ERR
  exec 2>&9
  echo >&2
  echo "########################################################################" >&2
  echo "[windeps] FAILED while building '$CUR' (exit $rc, line $line): $cmd" >&2
  if [ -f "$LOGS/$CUR.log" ]; then
    echo "[windeps] last 40 lines of $LOGS/$CUR.log:" >&2
    tail -n 40 "$LOGS/$CUR.log" >&2
  fi
  echo "########################################################################" >&2
  exit 1
}
trap 'on_err $LINENO "$BASH_COMMAND"' ERR

# ---- 1. toolchain and deb-src ----------------------------------------------
setup_apt() {
  [ "${SKIP_APT:-0}" = 1 ] && return 0
  [ "$(id -u)" = 0 ] || { echo "[windeps] run as root (apt), or set SKIP_APT=1" >&2; return 1; }
  local missing="" p
  for p in $APT_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  local need_update=0
  if ! grep -rqsE '^(Types:.*deb-src|deb-src .*bookworm )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    local uri
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1=="URIs:" && $2 !~ /security/ {print $2; exit}' || true)
    [ -n "$uri" ] || uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || uri=http://deb.debian.org/debian
    say "adding deb-src for bookworm main ($uri)"
    cat > /etc/apt/sources.list.d/windeps-debsrc.sources <<EOF
Types: deb-src
URIs: $uri
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    need_update=1
  fi
  ls /var/lib/apt/lists/*_dists_bookworm_main_source_Sources* >/dev/null 2>&1 || need_update=1
  [ -n "$missing" ] && ! ls /var/lib/apt/lists/*_dists_bookworm_main_binary-* >/dev/null 2>&1 && need_update=1
  if [ $need_update = 1 ]; then say "apt-get update"; apt-get update -q >"$LOGS/apt.log" 2>&1; fi
  if [ -n "$missing" ]; then
    say "installing:$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >>"$LOGS/apt.log" 2>&1
  fi
  x86_64-w64-mingw32-gcc -v 2>&1 | grep -q 'Thread model: win32' ||
    say "WARNING: x86_64-w64-mingw32-gcc is not the win32-thread variant (update-alternatives); binaries may need libwinpthread-1.dll"
}

# ---- helpers ----------------------------------------------------------------
# fetch NAME SRCPKG VERSION -> sets D to the unpacked, Debian-patched source dir
fetch() {
  local pkg=$2 ver=$3 up
  up=${ver#*:}; up=${up%-*}                 # strip epoch and Debian revision
  D=$SRC/$pkg-$up
  [ -f "$D/.windeps-fetched" ] && return 0
  rm -rf "$D"
  ( cd "$SRC"
    if ! apt-get source -q -o APT::Sandbox::User=root --only-source "$pkg=$ver"; then
      if [ "${WINDEPS_UNPINNED:-0}" = 1 ]; then
        echo "[windeps] WARNING: pinned $pkg=$ver is gone from the mirror; WINDEPS_UNPINNED=1 -> building bookworm's current version. Update PINS." | tee /dev/fd/9
        apt-get source -q -o APT::Sandbox::User=root --only-source "$pkg"
        local d; d=$(ls -d "$pkg"-*/ | head -n1); d=${d%/}
        [ "$SRC/$d" = "$D" ] || mv "$d" "$D"
      else
        echo "[windeps] pinned source $pkg=$ver not on the mirror (point release?). Update PINS (apt-cache showsrc $pkg) or set WINDEPS_UNPINNED=1" >&2
        exit 1
      fi
    fi )
  [ -d "$D" ] || { echo "[windeps] expected $D after apt-get source" >&2; return 1; }
  touch "$D/.windeps-fetched"
}

TC=$PREFIX/mingw-w64-x86_64.cmake
write_toolchain() {
  { echo "# Written by scripts/windows/build-deps.sh from cmake/mingw-w64-x86_64.cmake."
    echo "set(HOSTCRI_WINDEPS_PREFIX \"$PREFIX\")"
    cat "$SOURCE_DIR/cmake/mingw-w64-x86_64.cmake"; } > "$TC.tmp"
  mv "$TC.tmp" "$TC"
}

cmake_cfg() { # srcdir builddir args...
  local s=$1 b=$2; shift 2
  cmake -S "$s" -B "$b" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$TC" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DCMAKE_C_FLAGS="-pipe" -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DCMAKE_INSTALL_LIBDIR=lib -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF "$@"
}

# pc_fixup FILE [extra Cflags] [extra Libs]: relocatable, static-only .pc
pc_fixup() {
  local f=$1 xc=${2:-} xl=${3:-}
  [ -f "$f" ] || { echo "[windeps] missing $f" >&2; return 1; }
  awk -v P="$PREFIX" -v xc="$xc" -v xl="$xl" '
    function rel(s) { gsub(P, "${prefix}", s); return s }
    function val(s) { sub(/^[A-Za-z.]+:[ \t]*/, "", s); return s }
    /^prefix=/ { print "prefix=${pcfiledir}/../.."; next }
    /^(exec_prefix|libdir|includedir)=/ { print rel($0); next }
    /^Libs:/             { libs = libs " " val(rel($0)); if (!ol) { ol = ++n; out[n] = "@LIBS@" } next }
    /^Libs.private:/     { libs = libs " " val(rel($0)); next }
    /^Requires:/         { req = req " " val($0); if (!orq) { orq = ++n; out[n] = "@REQ@" } next }
    /^Requires.private:/ { req = req " " val($0); next }
    /^Cflags:/           { cf = cf " " val(rel($0)); if (!oc) { oc = ++n; out[n] = "@CF@" } next }
    /^Cflags.private:/   { cf = cf " " val(rel($0)); next }
    { out[++n] = rel($0) }
    END {
      libs = libs " " xl; cf = cf " " xc
      # absolute archive paths (CMake-generated .pc) -> -lNAME
      while (match(libs, /\$\{prefix\}\/lib\/lib[^ ]*\.a/)) {
        nm = substr(libs, RSTART, RLENGTH); sub(/.*\/lib/, "", nm); sub(/\.a$/, "", nm)
        libs = substr(libs, 1, RSTART - 1) "-l" nm substr(libs, RSTART + RLENGTH)
      }
      if (!ol) { out[++n] = "@LIBS@" }
      if (req ~ /[^ ]/ && !orq) { out[++n] = "@REQ@" }
      if (!oc) { out[++n] = "@CF@" }
      for (i = 1; i <= n; i++) {
        l = out[i]
        if (l == "@LIBS@") l = "Libs: " dedup(libs)
        else if (l == "@REQ@") { if (req !~ /[^ ]/) continue; l = "Requires: " squeeze(req) }
        else if (l == "@CF@") l = "Cflags: " dedup(cf)
        print l
      }
    }
    function squeeze(s) { gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
    # keep the first occurrence of each flag, drop empty ones and mingw CRT libs
    function dedup(s,   a, k, i, r, seen) {
      k = split(squeeze(s), a, " "); r = ""
      for (i = 1; i <= k; i++) {
        if (a[i] == "" || (a[i] in seen)) continue
        if (a[i] ~ /^-l(mingw32|gcc|gcc_s|gcc_eh|moldname|mingwex|msvcrt|ucrt|kernel32|pthread)$/) continue
        seen[a[i]] = 1; r = r (r == "" ? "" : " ") a[i]
      }
      return r
    }' "$f" > "$f.tmp"
  mv "$f.tmp" "$f"
}

write_pc() { # file name version cflags libs [requires]
  cat > "$1" <<EOF
prefix=\${pcfiledir}/../..
exec_prefix=\${prefix}
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: $2
Description: $2 (static, $HOST, built by build-windows-deps.sh)
Version: $3
${6:+Requires: $6
}Libs: -L\${libdir} $5
Cflags: -I\${includedir} $4
EOF
}

# ---- 2. one function per library (runs in a subshell, cwd = its build dir) --
# Each gets: D (Debian-patched source dir), B (empty build dir).

build_zlib() {
  # zlib's own configure handles CHOST=*-mingw*; --static builds only libz.a.
  CHOST=$HOST CFLAGS="$CFLAGS_COMMON" "$D/configure" --static --prefix="$PREFIX"
  make -j"$JOBS" libz.a
  make install
  rm -rf "$PREFIX/share/man"
  pc_fixup "$PREFIX/lib/pkgconfig/zlib.pc"
}

build_zstd() {
  cmake_cfg "$D/build/cmake" "$B" -DZSTD_BUILD_SHARED=OFF -DZSTD_BUILD_STATIC=ON \
    -DZSTD_BUILD_PROGRAMS=OFF -DZSTD_BUILD_TESTS=OFF -DZSTD_BUILD_CONTRIB=OFF \
    -DZSTD_LEGACY_SUPPORT=OFF -DZSTD_MULTITHREAD_SUPPORT=ON
  cmake --build "$B" -j"$JOBS"
  cmake --install "$B"
  pc_fixup "$PREFIX/lib/pkgconfig/libzstd.pc"
}

build_libuv() {
  # Build only the static target (1.44 has no switch to skip the DLL) and
  # install by hand; installed as libuv.a with libuv.pc and libuv-static.pc.
  cmake_cfg "$D" "$B" -DLIBUV_BUILD_TESTS=OFF -DLIBUV_BUILD_BENCH=OFF
  cmake --build "$B" -j"$JOBS" --target uv_a
  cp -r "$D/include/." "$PREFIX/include/"
  install -m644 "$B/libuv_a.a" "$PREFIX/lib/libuv.a"
  # upstream's libuv-static.pc (system libs from its CMake), renamed -luv_a -> -luv
  sed 's/-luv_a/-luv/' "$B/libuv-static.pc" > "$PREFIX/lib/pkgconfig/libuv-static.pc"
  sed 's/-luv_a/-luv/; s/^Name: libuv-static/Name: libuv/' "$B/libuv-static.pc" > "$PREFIX/lib/pkgconfig/libuv.pc"
  pc_fixup "$PREFIX/lib/pkgconfig/libuv-static.pc"
  pc_fixup "$PREFIX/lib/pkgconfig/libuv.pc"
}

build_nghttp2() {
  cmake_cfg "$D" "$B" -DENABLE_LIB_ONLY=ON -DENABLE_STATIC_LIB=ON -DENABLE_SHARED_LIB=OFF \
    -DENABLE_DOC=OFF -DENABLE_EXAMPLES=OFF -DENABLE_HPACK_TOOLS=OFF -DENABLE_APP=OFF \
    -DWITH_LIBXML2=OFF -DWITH_JEMALLOC=OFF
  cmake --build "$B" -j"$JOBS"
  cmake --install "$B"
  rm -rf "$PREFIX/share/doc/nghttp2" "$PREFIX/share/nghttp2" "$PREFIX/bin"
  pc_fixup "$PREFIX/lib/pkgconfig/libnghttp2.pc" "-DNGHTTP2_STATICLIB" "-lws2_32"
}

build_protobuf_c() {
  # runtime only: protoc-c (C++, needs libprotoc) keeps running on the build host
  CFLAGS="$CFLAGS_COMMON" "$D/configure" --host=$HOST --prefix="$PREFIX" \
    --disable-shared --enable-static --disable-protoc --disable-dependency-tracking
  make -j"$JOBS"
  make install
  rm -f "$PREFIX"/lib/libprotobuf-c.la
  pc_fixup "$PREFIX/lib/pkgconfig/libprotobuf-c.pc"
}

build_jansson() {
  cmake_cfg "$D" "$B" -DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_EXAMPLES=OFF \
    -DJANSSON_WITHOUT_TESTS=ON -DJANSSON_BUILD_DOCS=OFF -DUSE_WINDOWS_CRYPTOAPI=ON \
    -DJANSSON_INSTALL_CMAKE_DIR:STRING=lib/cmake/jansson
  cmake --build "$B" -j"$JOBS"
  cmake --install "$B"
  pc_fixup "$PREFIX/lib/pkgconfig/jansson.pc" "" "-ladvapi32"
}

build_libyaml() {
  cmake_cfg "$D" "$B" -DINSTALL_CMAKE_DIR=lib/cmake/yaml
  cmake --build "$B" -j"$JOBS"
  cmake --install "$B"
  write_pc "$PREFIX/lib/pkgconfig/yaml-0.1.pc" LibYAML 0.2.5 "-DYAML_DECLARE_STATIC" "-lyaml"
}

SQLITE_FLAGS="-DSQLITE_SECURE_DELETE -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_FTS3 \
 -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_FTS4 -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_RTREE=1 \
 -DSQLITE_SOUNDEX=1 -DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_OMIT_LOOKASIDE=1 -DSQLITE_ENABLE_DBSTAT_VTAB \
 -DSQLITE_ALLOW_ROWID_IN_VIEW -DSQLITE_ENABLE_UPDATE_DELETE_LIMIT=1 -DSQLITE_LIKE_DOESNT_MATCH_BLOBS \
 -DSQLITE_THREADSAFE=1 -DSQLITE_USE_URI=1 -DSQLITE_MAX_SCHEMA_RETRY=25 -DSQLITE_ENABLE_PREUPDATE_HOOK \
 -DSQLITE_ENABLE_SESSION -DSQLITE_ENABLE_STMTVTAB -DSQLITE_MAX_VARIABLE_NUMBER=250000 \
 -DSQLITE_OMIT_LOAD_EXTENSION"
build_sqlite3() {
  # Debian's sqlite3 source is the canonical tree, not the amalgamation: make
  # sqlite3.c with host tools (gcc for lemon/mkkeywordhash, tclsh), then
  # cross-compile that one file. Feature flags follow debian/rules (minus
  # load-extension), and go to both steps so the generated parser matches.
  mkdir -p host && cd host
  CFLAGS="-O1 $SQLITE_FLAGS" "$D/configure" --disable-tcl --disable-readline \
    --disable-load-extension --enable-fts5
  make -j"$JOBS" sqlite3.c sqlite3.h
  cd ..
  $HOST-gcc $CFLAGS_COMMON $SQLITE_FLAGS -c host/sqlite3.c -o sqlite3.o
  rm -f libsqlite3.a; $HOST-ar rcs libsqlite3.a sqlite3.o
  install -m644 libsqlite3.a "$PREFIX/lib/"
  install -m644 host/sqlite3.h "$D/src/sqlite3ext.h" "$PREFIX/include/"
  write_pc "$PREFIX/lib/pkgconfig/sqlite3.pc" SQLite "$(cat "$D/VERSION")" "" "-lsqlite3"
}

build_libarchive() {
  # Only zlib + zstd. Static target only. Its <Bcrypt.h> probe is
  # case-sensitive (mingw ships bcrypt.h), so digests/random use CryptoAPI
  # (advapi32, a default lib) instead of CNG - both are system DLLs.
  cmake_cfg "$D" "$B" -DENABLE_ZLIB=ON -DENABLE_ZSTD=ON -DENABLE_CNG=ON \
    -DENABLE_OPENSSL=OFF -DENABLE_MBEDTLS=OFF -DENABLE_NETTLE=OFF -DENABLE_LIBB2=OFF \
    -DENABLE_LZ4=OFF -DENABLE_LZO=OFF -DENABLE_LZMA=OFF -DENABLE_BZip2=OFF \
    -DENABLE_LIBXML2=OFF -DENABLE_EXPAT=OFF -DENABLE_PCREPOSIX=OFF -DENABLE_LIBGCC=OFF \
    -DENABLE_TAR=OFF -DENABLE_CPIO=OFF -DENABLE_CAT=OFF -DENABLE_XATTR=OFF -DENABLE_ACL=OFF \
    -DENABLE_ICONV=OFF -DENABLE_TEST=OFF -DENABLE_COVERAGE=OFF -DENABLE_WERROR=OFF -DPOSIX_REGEX_LIB=NONE \
    -DZLIB_ROOT="$PREFIX" -DZSTD_INCLUDE_DIR="$PREFIX/include" -DZSTD_LIBRARY="$PREFIX/lib/libzstd.a" \
    -DZLIB_WINAPI_EXITCODE=1 -DZLIB_WINAPI_EXITCODE__TRYRUN_OUTPUT=
  # ^ answers libarchive's one try_run (is zlib built with ZLIB_WINAPI? no);
  #   without it CMake 3.25 segfaults when cross-compiling with no emulator.
  grep -E '^(HAVE_LIBZ|HAVE_ZLIB_H|HAVE_LIBZSTD|HAVE_ZSTD_H|ZLIB_LIBRARY[^_]|ZSTD_LIBRARY)[:=A-Z]*' "$B/CMakeCache.txt" || true
  grep -q '^HAVE_LIBZSTD:INTERNAL=1' "$B/CMakeCache.txt" || { echo "zstd not detected"; return 1; }
  cmake --build "$B" -j"$JOBS" --target archive_static
  install -m644 "$D/libarchive/archive.h" "$D/libarchive/archive_entry.h" "$PREFIX/include/"
  install -m644 "$B/libarchive/libarchive_static.a" "$PREFIX/lib/libarchive.a"
  install -m644 "$B/build/pkgconfig/libarchive.pc" "$PREFIX/lib/pkgconfig/libarchive.pc"
  pc_fixup "$PREFIX/lib/pkgconfig/libarchive.pc"
}

build_curl() {
  # Schannel TLS (Windows native), HTTP(S) only, HTTP/2 via nghttp2, zlib+zstd.
  cmake_cfg "$D" "$B" -DCMAKE_C_FLAGS="-pipe -DNGHTTP2_STATICLIB" \
    -DBUILD_CURL_EXE=OFF -DCURL_USE_SCHANNEL=ON -DCURL_USE_OPENSSL=OFF -DCURL_WINDOWS_SSPI=ON \
    -DUSE_NGHTTP2=ON -DCURL_ZLIB=ON -DCURL_ZSTD=ON -DCURL_BROTLI=OFF -DCURL_USE_LIBSSH2=OFF \
    -DCURL_USE_LIBPSL=OFF -DUSE_LIBIDN2=OFF -DHTTP_ONLY=ON -DENABLE_MANUAL=OFF \
    -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON -DPICKY_COMPILER=OFF -DENABLE_UNICODE=OFF \
    -DZLIB_ROOT="$PREFIX" -DZstd_INCLUDE_DIR="$PREFIX/include" -DZstd_LIBRARY="$PREFIX/lib/libzstd.a" \
    -DNGHTTP2_INCLUDE_DIR="$PREFIX/include" -DNGHTTP2_LIBRARY="$PREFIX/lib/libnghttp2.a"
  cmake --build "$B" -j"$JOBS"
  cmake --install "$B"
  rm -rf "$PREFIX/bin/curl-config" "$PREFIX/share/man"
  pc_fixup "$PREFIX/lib/pkgconfig/libcurl.pc" "-DCURL_STATICLIB"
}

build_openssl() {
  # Optional (WITH_OPENSSL=1): libcrypto + libssl only, no apps/tests/docs.
  perl "$D/Configure" mingw64 no-shared no-tests no-module --cross-compile-prefix=$HOST- \
    --prefix="$PREFIX" --libdir=lib --openssldir="C:/ProgramData/windeps/ssl" $CFLAGS_COMMON
  make -j"$JOBS" build_libs
  make install_dev
  rm -f "$PREFIX"/lib/*.dll.a
  for p in libcrypto libssl openssl; do pc_fixup "$PREFIX/lib/pkgconfig/$p.pc"; done
}

# ---- 3. main loop -------------------------------------------------------------
T0=$(now)
CUR=apt; ts=$(now); setup_apt; write_toolchain
SUMMARY=$(printf '%-11s %-28s %8s %8s\n' library "debian source" fetch_s build_s)
SUMMARY+=$'\n'"$(printf '%-11s %-28s %8s %8s' apt/toolchain - "$(secs "$ts" "$(now)")" -)"
export PKG_CONFIG_LIBDIR=$PREFIX/lib/pkgconfig PKG_CONFIG_PATH=

# build_library PIN: fetches, builds and installs one library unless its stamp is current, and
# writes its summary row to $ROWS/<name>. Runs in the background, one per library of a wave.
build_library() {
  local pin=$1 name spec pkg ver stamp tf tf2 tb
  name=${pin%%:*}; spec=${pin#*:}; pkg=${spec%%=*}; ver=${spec#*=}
  CUR=$name
  stamp="$pkg=$ver $( { declare -f "build_${name//-/_}"; echo "$CFLAGS_COMMON $SQLITE_FLAGS $HOST"; } | sha256sum | cut -c1-16)"
  if [ -f "$STAMPS/$name" ] && [ "$(cat "$STAMPS/$name")" = "$stamp" ]; then
    say "$name: up to date ($pkg=$ver), skipped"
    printf '%-11s %-28s %8s %8s\n' "$name" "$pkg=$ver" skip skip > "$ROWS/$name"
    return 0
  fi
  say "$name: fetching $pkg=$ver"
  : > "$LOGS/$name.log"
  tf=$(now); fetch "$name" "$pkg" "$ver" >>"$LOGS/$name.log" 2>&1; tf2=$(now)
  B=$BLD/$name; rm -rf "$B"; mkdir -p "$B"
  say "$name: building (log: $LOGS/$name.log)"
  ( trap 'echo "[windeps] $name: command failed (exit $?): $BASH_COMMAND"; exit 1' ERR
    cd "$B"; export D B; "build_${name//-/_}" ) >>"$LOGS/$name.log" 2>&1
  tb=$(now)
  echo "$stamp" > "$STAMPS/$name"
  say "$name: done - fetch $(secs "$tf" "$tf2") s, build $(secs "$tf2" "$tb") s"
  printf '%-11s %-28s %8s %8s\n' "$name" "$pkg=$ver" "$(secs "$tf" "$tf2")" "$(secs "$tf2" "$tb")" > "$ROWS/$name"
}

# The libraries of a wave build at the same time, because most of each build is a configure
# step that uses one core. The first wave holds what libarchive and curl link against.
WAVES=("zlib zstd nghttp2 sqlite3" "libuv protobuf-c jansson libyaml libarchive curl openssl")
ROWS=$WORK/rows; rm -rf "$ROWS"; mkdir -p "$ROWS"
for wave in "${WAVES[@]}"; do
  pids=()
  for name in $wave; do
    for pin in "${PINS[@]}"; do
      [ "${pin%%:*}" = "$name" ] || continue
      build_library "$pin" &
      pids+=("$!")
    done
  done
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ $failed = 0 ] || { echo "[windeps] stopped: a library of this wave failed (see above)" >&2; exit 1; }
done
for pin in "${PINS[@]}"; do SUMMARY+=$'\n'"$(cat "$ROWS/${pin%%:*}")"; done

CUR=verify
rm -rf "$PREFIX/share/doc" "$PREFIX/cmake"; rmdir "$PREFIX/bin" "$PREFIX/share" 2>/dev/null || true
for f in "$PREFIX"/lib/*.dll.a "$PREFIX"/bin/*.dll; do
  [ -e "$f" ] && { echo "[windeps] unexpected shared artefact $f" >&2; false; }
done
# every .pc must resolve with only this prefix on the pkg-config path
for pc in "$PREFIX"/lib/pkgconfig/*.pc; do
  pkg-config --exists --print-errors "$(basename "$pc" .pc)"
done

echo
echo "$SUMMARY"
printf '%-11s %-28s %8s\n' TOTAL "" "$(secs "$T0" "$(now)")"
echo "prefix: $PREFIX ($(du -sh "$PREFIX" | cut -f1); lib/: $(du -sh "$PREFIX/lib" | cut -f1))"
{ echo "$SUMMARY"; printf 'TOTAL %s s\n' "$(secs "$T0" "$(now)")"; } > "$WORK/times-$(date +%Y%m%dT%H%M%S).txt"
