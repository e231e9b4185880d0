#!/usr/bin/env bash
# The full test suite, from a fresh machine: installs dependencies, builds, runs the Swift tests
# (unit + integration against real docker-registry instances, the emulated clusters and skopeo),
# the Jenkins library tests and the agent-image checks. Exits non-zero if anything fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
.ci/install-deps.sh || exit 1

failed=()
step() { echo; echo "=== $1"; }

step "swift build (debug, tests)"
if ! swift build --build-tests 2>&1 | tee /tmp/imgpromote-build.log | grep -E 'error:|warning:|Compiling|Build complete' | grep -vE '^\[' ; then :; fi
if ! grep -q 'Build complete' /tmp/imgpromote-build.log; then
  tail -40 /tmp/imgpromote-build.log; echo "build failed"; exit 1
fi
if grep -E '^/.*(Sources|Tests)/.*warning:' /tmp/imgpromote-build.log; then failed+=("warnings in the build"); fi

step "swift test"
# Bounded: a hung test must fail the run, not eat CI's 90 minutes.
timeout --kill-after=30 2700 swift test --skip-build 2>&1 | tee /tmp/imgpromote-test.log \
  | grep -vE '^Test (Case|Suite) .*(started|passed)|^◇ .* started' || true
pkill -f "$root/.build/.*imgpromotePackageTests.xctest" 2>/dev/null || true  # orphaned by a timeout
grep -qE 'Executed [0-9]+ tests?, with 0 failures' /tmp/imgpromote-test.log || failed+=("swift test")

step "Jenkins shared library (groovy)"
jenkins/test/run.sh || failed+=("jenkins tests")

step "Jenkins step end to end: the real CLI against two emulated clusters, checked with skopeo"
IMGPROMOTE_BIN_DIR="$(swift build --show-bin-path)" jenkins/test/real-cli.sh || failed+=("jenkins real-cli")

step "agent image: build as the Containerfile does, run in a runtime-only root file system"
if agent-image/build-binary.sh "$root/.build-agent-image/out"; then
  IMGPROMOTE_BIN="$root/.build-agent-image/out/imgpromote" agent-image/verify.sh || failed+=("agent-image checks")
else
  failed+=("agent-image binary build")
fi

step "fuzzing: every parser for a bounded time, regression inputs replayed"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}" || failed+=("fuzzing")

step "sanitizers: AddressSanitizer and ThreadSanitizer over the unit and integration suites"
scripts/sanitizers.sh || failed+=("sanitizers")

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test stages passed"
