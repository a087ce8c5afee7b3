#!/bin/sh
# lint-man.sh - make check test for the manual pages in man/: mandoc's
# linter, the groff check lintian runs (tag groff-message), lexgrog for the
# NAME line (tag bad-whatis-entry), and a page for every exported hak_*
# function.  Reads only $srcdir, so it works in make distcheck.

: "${srcdir:=.}"
mandir=$srcdir/man
symfile=$srcdir/src/libhakmem.sym

for tool in mandoc man lexgrog; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool not found"
        exit 77
    fi
done

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    echo "FAIL: $1"
    [ -z "$2" ] || printf '%s\n' "$2" | sed 's/^/    /'
}

# alias_target PAGE - prints the page that PAGE sources with ".so", if it
# is a one-line alias page.
alias_target() {
    sed -n 's|^\.so man[1-9]/\([^ ]*\)$|\1|p' "$1"
}

npages=0
for page in "$mandir"/*.[1-9]; do
    [ -f "$page" ] || continue
    npages=$((npages + 1))
    name=${page##*/}
    target=$(alias_target "$page")
    if [ -n "$target" ]; then
        # mandoc and man -l cannot resolve ".so man3/..." from here; check
        # instead that the target exists, is a real page, and names this
        # function in its NAME line so that man -k and apropos find it.
        if [ "$(wc -l <"$page")" -ne 1 ]; then
            fail "$name: an alias page must hold only its .so line"
        elif [ ! -f "$mandir/$target" ] || [ -n "$(alias_target "$mandir/$target")" ]; then
            fail "$name: .so target $target is not a page in man/"
        elif ! lexgrog "$mandir/$target" | grep -q "\"${name%.*} - "; then
            fail "$name: $target does not list ${name%.*} in its NAME section"
        else
            pass
        fi
        continue
    fi

    if ! out=$(mandoc -Tlint -W warning "$page" 2>&1) || [ -n "$out" ]; then
        fail "$name: mandoc -Tlint -W warning" "$out"
    else
        pass
    fi

    # Exactly what lintian runs; any output at all is a groff-message.
    out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
        man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
    if [ -n "$out" ]; then
        fail "$name: man --warnings (lintian groff-message)" "$out"
    else
        pass
    fi

    if ! out=$(lexgrog "$page" 2>&1) ||
        ! printf '%s\n' "$out" | grep -q ': ".* - .*"$'; then
        fail "$name: lexgrog cannot parse the NAME section" "$out"
    else
        pass
    fi
done

if [ "$npages" -eq 0 ]; then
    echo "ERROR: no manual pages in $mandir"
    exit 99
fi

# Every function of the exported API has a page (or an alias page).
if [ -f "$symfile" ]; then
    # shellcheck disable=SC2013 # one word per line by construction
    for fn in $(sed -n 's/^[[:space:]]*\(hak_[a-z0-9_]*\);.*/\1/p' "$symfile"); do
        if [ -f "$mandir/$fn.3" ]; then
            pass
        else
            fail "$fn is exported by $symfile but man/$fn.3 does not exist"
        fi
    done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
