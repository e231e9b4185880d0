#!/bin/bash
# The step end to end with the real CLI: jenkins/vars/imgpromote.groovy (through test/StepHarness.groovy,
# its script run by dash) drives the imgpromote binary of this checkout against two emulated OpenShift
# clusters (Sources/ClusterEmulator, real docker-registry storage). Checks mode 'tag', a copy, and,
# when the binary has the release commands, plan -> lock -> apply with JUnit. Results cross-checked
# with skopeo. Needs swift (or IMGPROMOTE_BIN_DIR holding imgpromote and openshift-emulator),
# skopeo, docker-registry, groovy, dash, python3. Everything it starts it stops.
# Usage: jenkins/test/real-cli.sh   Last line: "real-cli: N passed, N failed".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib=$(dirname "$here")
root=$(dirname "$lib")
work=$(mktemp -d "${TMPDIR:-/tmp}/imgpromote-real-cli.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "real-cli: $*" >&2; echo "real-cli: 0 passed, 1 failed"; exit 1; }

if [ -z "${IMGPROMOTE_BIN_DIR-}" ]; then
  (cd "$root" && timeout 1500 swift build --product imgpromote >"$work/build.log" 2>&1 &&
    timeout 1500 swift build --product openshift-emulator >>"$work/build.log" 2>&1) || { tail -n 20 "$work/build.log"; die "swift build"; }
  IMGPROMOTE_BIN_DIR=$(cd "$root" && swift build --show-bin-path)
fi
[ -x "$IMGPROMOTE_BIN_DIR/imgpromote" ] && [ -x "$IMGPROMOTE_BIN_DIR/openshift-emulator" ] || die "no imgpromote/openshift-emulator in $IMGPROMOTE_BIN_DIR"
mkdir -p "$work/bin"
ln -s "$IMGPROMOTE_BIN_DIR/imgpromote" "$work/bin/imgpromote"

# shellcheck source=../../scripts/lib/clusters.sh
source "$root/scripts/lib/clusters.sh"
start_clusters "$IMGPROMOTE_BIN_DIR/openshift-emulator" || die "emulated clusters did not start"
mkdir -p "$work/certs-dev" "$work/certs-prod"
cp "$(cluster_field dev caBundlePath)" "$work/dev-ca.pem"
cp "$(cluster_field prod caBundlePath)" "$work/prod-ca.pem"
cp "$work/dev-ca.pem" "$work/certs-dev/ca.crt"
cp "$work/prod-ca.pem" "$work/certs-prod/ca.crt"

# Seed dev: alice pushes shop/app:1.0 (2 platforms) with skopeo.
python3 "$root/bench/make-image.py" "$work/layout" 1.0 --layers 2x256K --platforms linux/amd64,linux/arm64 --seed 11 >/dev/null ||
  die "bench/make-image.py"
IMGPROMOTE_PASSWORD="$alice_pw" "$work/bin/imgpromote" login --quiet --cluster "$(cluster_field dev apiURL)" --ca-file "$work/dev-ca.pem" \
  --username alice --authfile "$work/alice-dev.json" >/dev/null 2>"$work/login.log" || { cat "$work/login.log"; die "login to dev"; }
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/policy.json"
skopeo copy --quiet --all --policy "$work/policy.json" --authfile "$work/alice-dev.json" --dest-cert-dir "$work/certs-dev" \
  "oci:$work/layout:1.0" "docker://$(cluster_field dev registryHost)/shop/app:1.0" || die "seeding dev with skopeo"

cd "$lib"
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/default-java}
[ -x "$JAVA_HOME/bin/java" ] || JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
REAL_WORK=$work REAL_ALICE_PW=$alice_pw REAL_DEV_SA=$dev_sa REAL_PROD_SA=$prod_sa \
REAL_DEV_API=$(cluster_field dev apiURL) REAL_PROD_API=$(cluster_field prod apiURL) \
REAL_DEV_REG=$(cluster_field dev registryHost) REAL_PROD_REG=$(cluster_field prod registryHost) \
  timeout 600 groovy -cp "test:test/stubs:/usr/share/java/junit4.jar" test/RealCliCheck.groovy
