#!/usr/bin/env bash
# .ci/packages.sh - builds the Debian packages from a copy of the tree, runs
# lintian on them, installs them *by name* from a local apt repository,
# checks the installed result and removes it again.  Called from .ci/run;
# needs root (apt) and leaves the source tree and the system as it found them.
#
# Environment: DEB_BUILD_OPTIONS is passed on (e.g. "nocheck" skips the
# test suite inside the build); KEEP_PACKAGES_DIR=1 keeps the work directory.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
list=/etc/apt/sources.list.d/hakmem-local.list
binaries=(libhakmem1 libhakmem-hardened1 libhakmem-dev hakmem-tools)
# What a user types: libhakmem is provided by libhakmem1.
install_names=(libhakmem libhakmem-hardened1 libhakmem-dev hakmem-tools)

export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C.UTF-8

# Other jobs on the machine may hold the dpkg lock for a while: wait.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }

step() { printf '\n=== packages: %s\n' "$*"; }
die() { printf 'packages: FAIL: %s\n' "$*" >&2; exit 1; }

checks_passed=0
checks_failed=0
check() { # check DESCRIPTION COMMAND... - runs one verification
    local what=$1
    shift
    if "$@"; then
        checks_passed=$((checks_passed + 1))
        printf 'PASS: %s\n' "$what"
    else
        checks_failed=$((checks_failed + 1))
        printf 'FAIL: %s\n' "$what"
    fi
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages with apt-get)"
[ -f "$root/debian/control" ] || die "no debian/control under $root"

work=$(mktemp -d /tmp/hakmem-packages.XXXXXX)
# apt fetches file: repositories as the unprivileged _apt user.
chmod 755 "$work"
made_list=no
installed=no

cleanup() {
    local status=$?
    set +e
    if [ "$installed" = yes ]; then
        step "removing ${binaries[*]}"
        apt_get remove -y "${binaries[@]}"
    fi
    if [ "$made_list" = yes ]; then
        rm -f "$list"
        apt_get update -qq || echo "packages: warning: final apt-get update failed" >&2
    fi
    if [ "${KEEP_PACKAGES_DIR:-}" = 1 ]; then
        echo "packages: kept $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
# A signal still goes through cleanup (the list file, installed packages).
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
step "tools and build dependencies"
need=()
command -v dpkg-buildpackage >/dev/null || need+=(dpkg-dev)
command -v dpkg-scanpackages >/dev/null || need+=(dpkg-dev)
command -v gcc >/dev/null || need+=(build-essential)
command -v lintian >/dev/null || need+=(lintian)
if [ ${#need[@]} -gt 0 ]; then
    apt_get update -qq
    apt_get install -y --no-install-recommends "${need[@]}"
fi
if ! (cd "$root" && dpkg-checkbuilddeps) 2>/dev/null; then
    apt_get update -qq
    (cd "$root" && apt_get build-dep -y ./)
fi

# dpkg-parsechangelog comes with dpkg-dev, installed just above if needed.
version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
upstream=${version%-*}
arch=$(dpkg --print-architecture)

# ---------------------------------------------------------------------------
step "copying the tree to $work/hakmem-$upstream"
# Build from a copy: dpkg-buildpackage writes into the tree it builds, and
# other builds use this one.  Only the files git tracks (as they are in the
# work tree, so uncommitted edits to them count): never build products,
# even if an in-tree build left some that .gitignore misses.
src=$work/hakmem-$upstream
mkdir "$src"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$root" ls-files -z --cached |
        while IFS= read -r -d '' f; do
            [ -e "$root/$f" ] && printf '%s\0' "$f"
        done |
        tar -C "$root" --null -T - -cf - | tar -C "$src" -xf -
else
    tar -C "$root" --exclude=.git -cf - . | tar -C "$src" -xf -
fi

# ---------------------------------------------------------------------------
step "dpkg-buildpackage -us -uc -b (log: build.log)"
case " ${DEB_BUILD_OPTIONS:-} " in
*" parallel="*) ;;
*) export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=2" ;;
esac
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
    tail -n 150 "$work/build.log"
    die "dpkg-buildpackage failed (last lines above)"
fi
# The test suite's summary, from dh_auto_test.
grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' "$work/build.log" | sed 's/^/build: /' || true
changes=$work/hakmem_${version}_${arch}.changes
[ -f "$changes" ] || die "no $changes"
ls -l "$work"/*.deb

# ---------------------------------------------------------------------------
step "lintian"
# Overrides live in debian/*.lintian-overrides and are honoured by lintian;
# anything else at warning level or above fails.
lintian --display-experimental --pedantic --show-overrides \
    "$changes" >"$work/lintian.log" 2>&1 || true
cat "$work/lintian.log"
if grep -E '^[EW]: ' "$work/lintian.log"; then
    die "lintian reported errors or warnings (above)"
fi
echo "lintian: no errors or warnings"

# ---------------------------------------------------------------------------
step "local apt repository"
repo=$work/repo
mkdir "$repo"
cp "$work"/*.deb "$repo/"
chmod 755 "$repo"
chmod 644 "$repo"/*.deb
(cd "$repo" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null)
# apt asks for the compressed index first; without it, it logs an error
# line for each compression it tries before it falls back to Packages.
xz -k "$repo/Packages" 2>/dev/null || gzip -k "$repo/Packages"
echo "deb [trusted=yes] file:$repo ./" >"$list"
made_list=yes
# Only this source needs reading now; the lists of the others stay as they
# are (the full update at the end tidies up after this one).
apt_get update -o Dir::Etc::SourceList="$list" -o Dir::Etc::SourceParts=- \
    -o APT::Get::List-Cleanup=0

# Start from a system without them, so the install below is of this build.
for p in "${binaries[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        apt_get remove -y "${binaries[@]}"
        break
    fi
done

# "apt-get install libhakmem" on its own must pick libhakmem1 (the only
# provider of the virtual name), not just as a dependency of -dev.
apt_get install -s libhakmem | grep -q '^Inst libhakmem1 ' ||
    die "apt-get install libhakmem does not select libhakmem1"

step "apt-get install -y ${install_names[*]}"
installed=yes
apt_get install -y "${install_names[@]}"
for p in "${binaries[@]}"; do
    v=$(dpkg-query -W -f='${Version}' "$p")
    [ "$v" = "$version" ] || die "$p $v installed, expected $version"
done

# ---------------------------------------------------------------------------
step "checks of the installed packages"
t=$work/check
mkdir "$t"

# (pkgconf ends its output with a space)
check "pkg-config --libs hakmem prints -lhakmem" \
    test "$(pkg-config --libs hakmem | sed 's/ *$//')" = "-lhakmem"
check "pkg-config --modversion hakmem prints $upstream" \
    test "$(pkg-config --modversion hakmem)" = "$upstream"
check "pkg-config --cflags hakmem prints nothing" \
    test -z "$(pkg-config --cflags hakmem | tr -d ' ')"

if grep -qs 'path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
    echo "SKIP: man pages are excluded by /etc/dpkg/dpkg.cfg.d on this system"
else
    check "man -w hak_malloc finds the page" \
        bash -c 'man -w hak_malloc | grep -q "/man3/hak_malloc\.3"'
    # Alias pages are links (made by dh_installman from the .so pages),
    # which man -w resolves to the page they point to.
    check "man -w hak_free finds hak_malloc(3)" \
        bash -c 'man -w hak_free | grep -q "/man3/hak_malloc\.3"'
    check "man -w hak_stats_print_json finds hak_stats(3)" \
        bash -c 'man -w hak_stats_print_json | grep -q "/man3/hak_stats\.3"'
    check "man -w 7 hakmem finds the overview" \
        bash -c 'man -w 7 hakmem | grep -q "/man7/hakmem\.7"'
    check "man -w 1 hakmem finds the command's page" \
        bash -c 'man -w 1 hakmem | grep -q "/man1/hakmem\.1"'
    check "man -w 5 hakmem.conf finds the settings file's page" \
        bash -c 'man -w 5 hakmem.conf | grep -q "/man5/hakmem\.conf\.5"'
    check "man hak_malloc renders" \
        bash -c 'MANWIDTH=80 man hak_malloc 2>&1 | grep -q "hak_posix_memalign"'
fi

# The autopkgtests, run against the packages installed above.
for test in build-and-run preload command; do
    mkdir "$t/$test"
    check "autopkgtest $test" \
        env AUTOPKGTEST_TMP="$t/$test" "$src/debian/tests/$test"
done

check "LD_PRELOAD=libhakmem.so.1 python3 works" \
    env LD_PRELOAD=libhakmem.so.1 python3 -c '
import sys
maps = open("/proc/self/maps").read()
assert "libhakmem.so.1" in maps, "libhakmem is not mapped"
data = [bytes(n % 1000) for n in range(100000)]
print("python3 under hakmem:", sum(map(len, data)))
sys.exit(0)'
check "hakmem -- true" hakmem -- true
check "hakmem passes the exit status through" \
    bash -c 'hakmem -- sh -c "exit 3"; test $? -eq 3'
check "hakmem --version prints $upstream" \
    test "$(hakmem --version)" = "hakmem $upstream"
only_library() { # libhakmem1 ships the shared library and its docs only
    local f extra=0
    while IFS= read -r f; do
        [ -d "$f" ] && [ ! -L "$f" ] && continue
        case $f in
        /usr/lib/*/libhakmem.so.1 | /usr/lib/*/libhakmem.so.1.* | /usr/share/doc/libhakmem1/* | \
            /usr/share/lintian/overrides/libhakmem1) ;;
        *) echo "unexpected file in libhakmem1: $f"; extra=1 ;;
        esac
    done < <(dpkg-query -L libhakmem1)
    return "$extra"
}
check "libhakmem1 holds only the library" only_library
# The settings file is the administrator's: no package ships it, the
# library package installs a commented example (issue 16).
check "libhakmem1 installs the example hakmem.conf, not /etc/hakmem.conf" \
    bash -c 'dpkg-query -L libhakmem1 | grep -qx "/usr/share/doc/libhakmem1/examples/hakmem.conf" &&
        ! dpkg-query -L libhakmem1 libhakmem-dev hakmem-tools | grep -q "^/etc/"'
check "libhakmem-hardened1 holds only its library" bash -c '
    dpkg-query -L libhakmem-hardened1 | while IFS= read -r f; do
        [ -d "$f" ] && [ ! -L "$f" ] && continue
        case $f in
        /usr/lib/*/libhakmem-hardened.so.1 | /usr/lib/*/libhakmem-hardened.so.1.* | \
            /usr/share/doc/libhakmem-hardened1/* | /usr/share/lintian/overrides/libhakmem-hardened1) ;;
        *) echo "unexpected file in libhakmem-hardened1: $f"; exit 1 ;;
        esac
    done'
check "hakmem --hardened -- python3 runs under libhakmem-hardened.so.1" \
    hakmem --hardened -- python3 -c '
maps = open("/proc/self/maps").read()
assert "libhakmem-hardened.so.1" in maps, "libhakmem-hardened is not mapped"
data = [bytes(n % 1000) for n in range(100000)]'
# The hardened library reports a double free that the program does not
# reach again (the default one finds it at the free too, see hakmem(7)).
check "hakmem --hardened reports a double free at the free" bash -c '
    out=$(hakmem --hardened -- python3 -c "
import ctypes
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
p = libc.malloc(40)
libc.free(ctypes.c_void_p(p))
libc.free(ctypes.c_void_p(p))
" 2>&1); echo "$out" | grep -q "^hakmem: free(): double free of 0x"'

printf '\npackages: %d passed, %d failed\n' "$checks_passed" "$checks_failed"
[ "$checks_failed" -eq 0 ]
