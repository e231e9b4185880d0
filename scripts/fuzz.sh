#!/usr/bin/env bash
# Bounded libFuzzer run of imgpromote's parsers (see fuzz/README.md).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 30; FUZZ_TARGETS="reference kubeconfig" for a subset)
#
# Builds fuzz/ (coverage + AddressSanitizer), replays every input in fuzz/regressions/<target>/, then
# fuzzes each target for SECONDS_PER_TARGET starting from a temporary copy of fuzz/corpus/<target>/
# (the repository is never written). Crashing inputs are kept in $FUZZ_ARTIFACTS (default
# .build-fuzz/artifacts/<target>/) and printed as hex. Exits non-zero on any crash, leak, timeout
# or failed build. Last line: "fuzz: N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=${1:-30}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2; }
all_targets=(reference platform auth-challenge manifest registry-error authfile kubeconfig release)
read -r -a targets <<< "${FUZZ_TARGETS:-${all_targets[*]}}"
scratch="$root/.build-fuzz"
artifacts=${FUZZ_ARTIFACTS:-$scratch/artifacts}

echo "=== build fuzz harnesses (release, -sanitize=fuzzer,address)"
# Not `--sanitize=fuzzer --sanitize=address`: SwiftPM passes them as two -sanitize= options and the
# 6.3 driver hands only the last one to the frontend, so nothing gets coverage instrumentation and
# libFuzzer runs blind. `--sanitize=fuzzer` stays so SwiftPM links libFuzzer's main instead of
# aliasing main to <module>_main; -Xswiftc (which comes later) sets the real combination.
if ! swift build --package-path fuzz --scratch-path "$scratch" -c release \
        --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address 2>&1 \
        | tee "$scratch.build.log" | grep -E 'error:|warning: .*/(Sources|Harnesses)/' ; then :; fi
if ! grep -q 'Build complete' "$scratch.build.log"; then
    tail -30 "$scratch.build.log"; echo "fuzz: 0 passed, ${#targets[@]} failed (build)"; exit 1
fi
bin=$(swift build --package-path fuzz --scratch-path "$scratch" -c release --show-bin-path)

work=$(mktemp -d "${TMPDIR:-/tmp}/imgpromote-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The Swift runtime's crash backtracer does not mix with ASan's (it reports a bogus use-after-free
# while unwinding); libFuzzer and ASan print the stack themselves.
export SWIFT_BACKTRACE=enable=no
export TMPDIR="$work"      # the authfile harness's scratch files go here too

show_input() {  # small crash inputs go to the log as hex so CI output alone reproduces them
    local f=$1
    echo "    input ($(wc -c < "$f") bytes): $f"
    if [ "$(wc -c < "$f")" -le 512 ]; then od -An -tx1 -v "$f" | tr -d ' \n' | sed 's/^/    hex: /'; echo; fi
}

passed=0; failed=0; summary=()
for t in "${targets[@]}"; do
    exe="$bin/fuzz-$t"
    echo; echo "=== fuzz-$t"
    if [ ! -x "$exe" ]; then echo "no harness fuzz-$t"; failed=$((failed + 1)); summary+=("$t: no harness"); continue; fi
    ok=1; note=""
    mkdir -p "$artifacts/$t"

    # 1. Regression inputs: each must run cleanly (one process per file, so each failure is named).
    nreg=0
    if [ -d "fuzz/regressions/$t" ]; then
        for f in "fuzz/regressions/$t"/*; do
            [ -f "$f" ] || continue
            nreg=$((nreg + 1))
            if ! "$exe" -rss_limit_mb=2048 -timeout=25 "$f" > "$work/replay.log" 2>&1; then
                ok=0; note+=" regression $f fails;"
                echo "REGRESSION FAILS: $f"; grep -E 'ERROR|violated|Fatal error|SUMMARY' "$work/replay.log" | head -5
            fi
        done
    fi

    # 2. Fuzz from a scratch copy of the corpus.
    corpus="$work/corpus-$t"
    mkdir -p "$corpus"
    [ -d "fuzz/corpus/$t" ] && cp -R "fuzz/corpus/$t/." "$corpus/"
    seeds=$(find "$corpus" -type f | wc -l)
    dict=(); [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
    log="$work/fuzz-$t.log"
    "$exe" "$corpus" "${dict[@]}" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=25 \
        -max_len=16384 -print_final_stats=1 -artifact_prefix="$artifacts/$t/" > "$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
    [ -n "$runs" ] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    counters=$(grep -oE '\([0-9]+ inline 8-bit counters' "$log" | head -1 | grep -oE '^\([0-9]+' | tr -d '(')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
    final=$(find "$corpus" -type f | wc -l)
    if [ "${counters:-0}" -lt 100 ]; then
        ok=0; note+=" not coverage-instrumented;"
    fi
    if [ $rc -ne 0 ]; then
        ok=0; note+=" crash (libFuzzer exit $rc);"
        grep -E '^==[0-9]+==ERROR|violated|Fatal error|^SUMMARY|Test unit written' "$log" | head -8
        grep -A25 -m1 -E '^==[0-9]+==ERROR|violated|Fatal error' "$log" | grep -E '^ +#[0-9]+ ' | head -12
        for f in $(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log"); do show_input "$f"; done
        cp "$log" "$artifacts/$t/fuzz.log"; echo "    full log: $artifacts/$t/fuzz.log"
    fi
    line="$t: ${runs:-0} runs in ${seconds}s, coverage ${cov:-?} of ${counters:-?} counters, corpus $seeds -> $final, regressions $nreg"
    if [ $ok -eq 1 ]; then passed=$((passed + 1)); summary+=("$line: ok")
    else failed=$((failed + 1)); summary+=("$line: FAILED:$note"); fi
    echo "${summary[-1]}"
done

echo
echo "=== fuzz summary"
printf '%s\n' "${summary[@]}"
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
