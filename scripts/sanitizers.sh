#!/usr/bin/env bash
# The fast, deterministic test suites under AddressSanitizer and ThreadSanitizer (a bounded CI stage).
#
#   scripts/sanitizers.sh [address] [thread]      (default: both)
#
# For each sanitizer: builds the package and its tests with --sanitize=<s> in its own scratch
# directory (.build-asan / .build-tsan; the executables the tests spawn are instrumented too), then
# runs each suite group as its own `swift test --filter` so one abort cannot hide the others.
# Every instrumented process writes its reports to a log directory (log_path), so findings in child
# processes whose stderr a test captures are not lost; any report fails the group.
# Last line: "sanitizers: N passed, N failed" (one unit per sanitizer x suite group, plus builds).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

sanitizers=("$@"); [ ${#sanitizers[@]} -gt 0 ] || sanitizers=(address thread)

# Suite groups, "Name|swift test --filter regex", each run as its own process. The unit suites and
# the integration suites that run real docker-registry processes and the cluster emulator (the HTTP
# engine first: its own thread, callbacks and wake-ups are where a race would live); both
# sanitizers together take about 5 minutes on 2 cores (see fuzz/README.md). Override with
# SANITIZER_GROUPS, e.g. SANITIZER_GROUPS="HTTPTransportTests|^HTTPTransportTests\."
default_groups="HTTPTransportTests|^HTTPTransportTests\. OCIRegistryTests|^OCIRegistryTests\. OpenShiftCredentialsTests|^OpenShiftCredentialsTests\.
    PromotionTests|^IntegrationTests\.PromotionTests/ EmulatorTests|^IntegrationTests\.EmulatorTests/
    SupplyChainTests|^SupplyChainTests\. AttachmentTests|^IntegrationTests\.AttachmentTests/
    ReleaseEngineTests|^PromotionTests\. ReleaseTests|^IntegrationTests\.ReleaseTests/ YAMLTests|^YAMLTests\."
read -r -a groups <<< "$(tr '\n' ' ' <<< "${SANITIZER_GROUPS:-$default_groups}")"

logroot="$root/.build-sanitizers"
rm -rf "$logroot"; mkdir -p "$logroot"

# LeakSanitizer suppressions, only for libXCTest.so (swift-corelibs-xctest: a toolchain library,
# not instrumented). On Linux XCTest never frees its own bookkeeping: XCTestSuiteRun and its suite
# form a retain cycle, and awaitUsingExpectation keeps a weak reference to every async XCTestCase
# whose side table is never released, so each test case and all it owns is reported at exit.
# Suppressing by function name does not work (the objects hanging off those roots are reported as
# indirect leaks with other stacks), so the pattern is the module. What stays checked: the product
# executables the integration tests spawn (imgpromote, openshift-emulator: no XCTest in them), and
# in the test runner every allocation whose stack has no XCTest frame (async test bodies and
# swift-testing tests run on executor threads). Not checked in-process: synchronous XCTest bodies.
cat > "$logroot/lsan.supp" <<'SUPP'
leak:libXCTest.so
SUPP
passed=0; failed=0; summary=()
record() {  # record <ok:0|1> <text>
    if [ "$1" -eq 1 ]; then passed=$((passed + 1)); summary+=("ok      $2"); else failed=$((failed + 1)); summary+=("FAILED  $2"); fi
    echo "${summary[-1]}"
}
now() { date +%s; }

for s in "${sanitizers[@]}"; do
    case $s in
        address) scratch="$root/.build-asan"; short=asan ;;
        thread)  scratch="$root/.build-tsan"; short=tsan ;;
        *) echo "unknown sanitizer $s (address, thread)" >&2; exit 2 ;;
    esac
    echo; echo "=== $s: build (debug, tests)"
    t0=$(now)
    swift build --build-tests --sanitize="$s" --scratch-path "$scratch" > "$logroot/$short-build.log" 2>&1
    t1=$(now)
    if ! grep -q 'Build complete' "$logroot/$short-build.log"; then
        grep -E 'error:' "$logroot/$short-build.log" | head -20
        record 0 "$s build ($((t1 - t0)) s): see $logroot/$short-build.log"
        continue
    fi
    record 1 "$s build ($((t1 - t0)) s)"

    for g in "${groups[@]}"; do
        name=${g%%|*}; filter=${g#*|}
        reports="$logroot/$short-$name"; mkdir -p "$reports"
        log="$logroot/$short-$name.log"
        echo; echo "=== $s: $name"
        t0=$(now)
        # ASan: stop at the first error (the report is the finding); leaks count too.
        # TSan: report every race and keep going; exitcode 66 marks a run that had reports.
        # No TSan suppressions: only findings inside uninstrumented system libraries (libcurl,
        # libssl) would qualify, and there have been none. Known spurious report, fixed at the source
        # rather than suppressed: a generic lock class holding Void (Protected(()) in LoopbackHTTP's
        # JWTSigner, Locked(()) in ClusterEmulator's HTTPBridge) gets its zero-sized inout access
        # instrumented at the object's end, which is the next heap object's metadata pointer
        # (swiftlang/swift#72487); intermittent "Swift access race" in withLock.
        LSAN_OPTIONS="suppressions=$logroot/lsan.supp:print_suppressions=0:${LSAN_EXTRA_OPTIONS:-}" \
        ASAN_OPTIONS="log_path=$reports/report:halt_on_error=1:detect_leaks=1:abort_on_error=0:${ASAN_EXTRA_OPTIONS:-}" \
        TSAN_OPTIONS="log_path=$reports/report:halt_on_error=0:exitcode=66:second_deadlock_stack=1:${TSAN_EXTRA_OPTIONS:-}" \
        SWIFT_BACKTRACE=enable=no \
            swift test --skip-build --sanitize="$s" --scratch-path "$scratch" --filter "$filter" > "$log" 2>&1
        rc=$?
        t1=$(now)
        xc=$(grep -oE 'Executed [0-9]+ tests?, with [0-9]+ failures?' "$log" | tail -1)
        st=$(grep -oE 'Test run with [0-9]+ tests? (in [0-9]+ suites? )?(passed|failed).*' "$log" | tail -1)
        nrep=$(find "$reports" -type f | wc -l)
        ok=1
        [ $rc -eq 0 ] || ok=0
        [ "$nrep" -eq 0 ] || ok=0
        if [ $ok -eq 0 ]; then
            grep -E 'error:|failed|Fatal error' "$log" | grep -vE 'with 0 failures' | head -10
            for f in "$reports"/*; do
                [ -f "$f" ] || continue
                echo "--- $f"
                grep -E '^(==[0-9]+==ERROR|WARNING: ThreadSanitizer|SUMMARY)|^ +#[0-9]+ ' "$f" | head -30
            done
        fi
        record $ok "$s $name ($((t1 - t0)) s; exit $rc; ${xc:-no XCTest}; ${st:-no swift-testing}; $nrep sanitizer reports)"
    done
done

echo
echo "=== sanitizer summary (logs: $logroot)"
printf '%s\n' "${summary[@]}"
echo "sanitizers: $passed passed, $failed failed"
[ $failed -eq 0 ]
