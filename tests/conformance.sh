#!/bin/bash
# conformance.sh - the ONNX backend conformance tests (Debian's libonnx-testdata:
# node, simple, pytorch-converted, pytorch-operator), measured against the list
# of expected failures.
#
#   tests/conformance.sh [-v] [DATA_DIR]   run; fail on any unexpected result
#   tests/conformance.sh --update [DATA_DIR]
#                                          rewrite the list from the current results
#
# tests/conformance/runner.c (with compare.c) is built here into $BUILD/tools/conformance from
# $BUILD/libkdc.a (run `make` first; BUILD=build/asan SANFLAGS="-fsanitize=address,undefined"
# for the sanitizer variant, CONFORMANCE=path to use an already built binary).
# The runner checks every data set and every output (rtol 1e-3, atol 1e-5,
# exact on integers and bools) and classifies each test folder against
# tests/conformance/expected_failures.txt:
#   PASS / XFAIL (listed failure)             fine
#   FAIL (unlisted failure, crash, timeout)   fails this script
#   XPASS (listed but passes now)             fails this script: remove it from the list
# Prints the unexpected lines (-v: every line), then
#   conformance: P passed, F failed, S expected failures
# the pass percentage of all test folders, a per-suite breakdown and the time.
# --update writes the list (sorted, each failure with the runner's reason)
# and exits 0; crashes are never written to it: fix them.
set -u
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
CC=${CC:-cc}
LIST=tests/conformance/expected_failures.txt
BIN=${CONFORMANCE:-$BUILD/tools/conformance}
SRCS="tests/conformance/runner.c tests/conformance/compare.c"
update=0 verbose=0 data=/usr/share/libonnx-testdata/data
for arg in "$@"; do
    case "$arg" in
    --update) update=1 ;;
    -v | --verbose) verbose=1 ;;
    -h | --help) sed -n '2,23s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "conformance: unknown option '$arg' (see --help)" >&2; exit 2 ;;
    *) data=$arg ;;
    esac
done
start=$(date +%s.%N)

build_runner() {
    [ -n "${CONFORMANCE:-}" ] && return 0
    local f stale=0
    for f in $SRCS tests/conformance/compare.h "$BUILD/libkdc.a"; do
        [ "$f" -nt "$BIN" ] && stale=1
    done
    [ -x "$BIN" ] && [ "$stale" = 0 ] && return 0
    if [ ! -f "$BUILD/libkdc.a" ]; then
        echo "conformance: $BUILD/libkdc.a is missing (run make first)" >&2
        return 1
    fi
    mkdir -p "$(dirname "$BIN")"
    # shellcheck disable=SC2046,SC2086 # pkg-config and SANFLAGS hold several words on purpose
    $CC -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g ${SANFLAGS:-} -I. -I"$BUILD/gen" $SRCS \
        "$BUILD/libkdc.a" $(pkg-config --libs libprotobuf-c yaml-0.1 openblas) -lpthread -lm ${SANFLAGS:-} -o "$BIN"
}

# Per-suite and overall counts from the runner's lines.
summarize() { # LOG [update]
    awk -v update="${2:-}" '
    /^(PASS|FAIL|XFAIL|XPASS) [^ :]+\/[^ :]+/ {
        if ($0 ~ /no such test folder$/) { stale++; next }
        name = $2; sub(/:$/, "", name); split(name, part, "/"); s = part[1]
        if (!(s in total)) order[n++] = s
        total[s]++; all++
        if ($1 == "PASS") oks++
        if ($1 == "PASS" || $1 == "XPASS") { pass[s]++; passes++ }
        if ($1 == "XFAIL") { xfail[s]++; xfails++ }
        if ($1 == "FAIL" || $1 == "XPASS") { bad[s]++; bads++ }
    }
    END {
        printf "conformance: %d passed, %d failed, %d expected failures\n", oks, bads + stale, xfails
        if (all)
            printf "conformance: %d of %d test folders pass (%.1f%%)\n", passes, all, 100 * passes / all
        for (i = 0; i < n; i++) {
            s = order[i]
            if (update) {
                printf "  %-18s %4d of %4d pass (%5.1f%%), %4d listed as expected failures\n", s ":", pass[s],
                    total[s], 100 * pass[s] / total[s], bad[s]
                continue
            }
            printf "  %-18s %4d of %4d pass (%5.1f%%), %4d expected failures, %d unexpected\n", s ":", pass[s],
                total[s], 100 * pass[s] / total[s], xfail[s], bad[s]
        }
    }' "$1"
}

# Listed failures that now fail for another reason (a new op, a new mismatch):
# not an error, but the list's reasons are stale. -v names them.
changed_reasons() { # LOG
    awk -v verbose="$verbose" -v list="$LIST" '
    FNR == NR {
        if ($0 ~ /^#/ || NF == 0) next
        name = $1; reason = $0; sub(/^[^ ]+ +/, "", reason); listed[name] = reason; next
    }
    /^XFAIL / {
        name = $2; sub(/:$/, "", name); reason = $0; sub(/^XFAIL [^ ]+ /, "", reason)
        if (listed[name] != reason) {
            n++
            if (verbose) printf "  %s: listed \"%s\", now \"%s\"\n", name, listed[name], reason
        }
    }
    END {
        if (n) printf "conformance: note: %d expected failures now fail for another reason than listed (%s; --update refreshes them)\n", n, verbose ? "above" : "-v names them"
    }' "$LIST" "$1"
}

write_list() { # LOG
    {
        echo "# expected_failures.txt - ONNX backend conformance tests kdc does not pass yet."
        echo "#"
        echo "# One line per test folder under /usr/share/libonnx-testdata/data:"
        echo "#   <suite>/<test>  <reason: the runner's one-line error or mismatch>"
        echo "# Only the first word counts; the reason is for readers. tests/conformance.sh"
        echo "# fails when a test not listed here fails, or when a listed test passes."
        echo "# Regenerate with: tests/conformance.sh --update   (never edit by hand to hide"
        echo "# a regression; crashes and timeouts are never listed)."
        grep '^FAIL [^ :]*/[^ :]*: ' "$1" | grep -v ': crashed: ' | sed 's/^FAIL \([^:]*\): /\1  /' | LC_ALL=C sort
    } >"$LIST.tmp" && mv "$LIST.tmp" "$LIST"
}

build_runner || exit 2
OUT=$(mktemp -d "${TMPDIR:-/tmp}/kdc-conformance.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
trap 'exit 130' INT TERM
log=$OUT/runner.log

if [ "$update" -eq 1 ]; then
    "$BIN" --data "$data" >"$log"
    rc=$?
    if [ "$rc" -ge 2 ] || ! tail -n 1 "$log" | grep -q '^[0-9]* passed, [0-9]* failed, [0-9]* skipped$'; then
        cat "$log"
        echo "conformance: the runner did not finish (status $rc); $LIST left unchanged"
        exit 2
    fi
    write_list "$log"
    crashes=$(grep -c '^FAIL [^:]*: crashed: ' "$log")
    grep '^FAIL [^:]*: crashed: ' "$log"
    [ "$crashes" -gt 0 ] && echo "conformance: $crashes tests crash or hang (above): not listed, fix them"
    echo "conformance: wrote $LIST ($(grep -vc '^#' "$LIST") expected failures)"
    summarize "$log" update | sed -n '2,$p'
    exit 0
fi

"$BIN" --data "$data" --expected "$LIST" >"$log"
rc=$?
if [ "$verbose" -eq 1 ]; then
    grep -v '^[0-9]* passed, [0-9]* failed, [0-9]* skipped$' "$log"
else
    grep -E '^(FAIL|XPASS|note:) ' "$log"
fi
if ! tail -n 1 "$log" | grep -q '^[0-9]* passed, [0-9]* failed, [0-9]* skipped$'; then
    echo "FAIL conformance: the runner did not finish (status $rc)"
    rc=2
fi
changed_reasons "$log"
summarize "$log"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "conformance: %.1f s\n", e - s }'
[ "$rc" -eq 0 ] || echo "conformance: unexpected results above; if they are intended, run tests/conformance.sh --update"
exit $rc
