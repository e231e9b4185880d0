#!/usr/bin/env bash
# One-command demo: two emulated OpenShift clusters (dev, prod) fronting real registries, a kubeconfig
# with contexts dev and prod, an image seeded into dev, and a promotion dev -> prod with imgpromote,
# checked with skopeo. Everything it starts is stopped at the end; all traffic stays on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
.ci/install-deps.sh

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Building imgpromote and the cluster emulator"
swift build 2>&1 | grep -E 'error|warning:|Compiling|Build complete' | grep -v '^\[' || true
bin=$(swift build --show-bin-path)
imgpromote="$bin/imgpromote"
emulator="$bin/openshift-emulator"
[ -x "$imgpromote" ] && [ -x "$emulator" ] || { echo "demo: build failed" >&2; exit 1; }

work=$(mktemp -d /tmp/imgpromote-demo.XXXXXX)
chmod 700 "$work"
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# shellcheck source=lib/clusters.sh
source "$root/scripts/lib/clusters.sh"
say "Starting emulated clusters dev and prod (API + OAuth over HTTPS, real docker-registry behind each)"
umask 077
start_clusters "$emulator" || { echo "demo: the emulated clusters did not start" >&2; exit 1; }
dev_api=$(cluster_field dev apiURL); prod_api=$(cluster_field prod apiURL)
dev_ca=$(cluster_field dev caBundlePath); prod_ca=$(cluster_field prod caBundlePath)
echo "dev:  API $dev_api, registry $(cluster_field dev registryHost)"
echo "prod: API $prod_api, registry $(cluster_field prod registryHost)"

say "Writing a kubeconfig with contexts dev and prod (service-account tokens, mode 0600)"
export KUBECONFIG="$work/kubeconfig"
cat > "$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster: {server: "$dev_api", certificate-authority: "$dev_ca"}
- name: prod
  cluster: {server: "$prod_api", certificate-authority: "$prod_ca"}
users:
- name: promoter-dev
  user: {token: "$dev_sa"}
- name: promoter-prod
  user: {token: "$prod_sa"}
contexts:
- name: dev
  context: {cluster: dev, user: promoter-dev, namespace: shop}
- name: prod
  context: {cluster: prod, user: promoter-prod, namespace: shop}
current-context: dev
EOF
sed 's/token: "[^"]*"/token: "<redacted>"/' "$KUBECONFIG"

say "alice logs in to dev with her password and pushes shop/app:1.0 there (skopeo with the auth file imgpromote wrote)"
python3 bench/make-image.py "$work/layout" 1.0 --layers 3x4M --platforms linux/amd64,linux/arm64 --seed 7 >/dev/null
IMGPROMOTE_PASSWORD="$alice_pw" "$imgpromote" login --cluster "$dev_api" --ca-file "$dev_ca" --username alice \
    --authfile "$work/alice-auth.json"
mkdir -p "$work/certs" && cp "$dev_ca" "$work/certs/ca.crt"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$work/policy.json"
skopeo copy --quiet --all --policy "$work/policy.json" --authfile "$work/alice-auth.json" --dest-cert-dir "$work/certs" \
    "oci:$work/layout:1.0" "docker://$(cluster_field dev registryHost)/shop/app:1.0"
echo "pushed $(cluster_field dev registryHost)/shop/app:1.0"

say "Promoting dev -> prod:  imgpromote copy --src-context dev --dest-context prod shop/app:1.0 shop/app:1.0"
promoted=$("$imgpromote" copy --src-context dev --dest-context prod shop/app:1.0 shop/app:1.0)
echo "stdout: $promoted"

say "Checking with skopeo: the digest in prod equals the digest in dev"
"$imgpromote" login --context prod --authfile "$work/prod-auth.json" 2>/dev/null
cp "$prod_ca" "$work/certs/ca.crt"
prod_digest=$(skopeo inspect --raw --authfile "$work/prod-auth.json" --cert-dir "$work/certs" \
    "docker://$(cluster_field prod registryHost)/shop/app:1.0" | sha256sum | cut -d' ' -f1)
cp "$dev_ca" "$work/certs/ca.crt"
dev_digest=$(skopeo inspect --raw --authfile "$work/alice-auth.json" --cert-dir "$work/certs" \
    "docker://$(cluster_field dev registryHost)/shop/app:1.0" | sha256sum | cut -d' ' -f1)
echo "dev  shop/app:1.0 = sha256:$dev_digest"
echo "prod shop/app:1.0 = sha256:$prod_digest"
[ "$dev_digest" = "$prod_digest" ] && [ "$promoted" = "$(cluster_field prod registryHost)/shop/app@sha256:$prod_digest" ] \
    || { echo "demo: digests differ" >&2; exit 1; }

say "Running it again is a no-op (one manifest HEAD on prod)"
"$imgpromote" copy --src-context dev --dest-context prod shop/app:1.0 shop/app:1.0

say "alice pushes two more images of the release to dev: shop/web:1.0 and shop/worker:1.0 (same base layer as shop/app)"
for name in web worker; do
    seed=11; [ $name = worker ] && seed=13
    python3 bench/make-image.py "$work/layout-$name" 1.0 --layers 3x4M --seed $seed --base-seed 7 >/dev/null
    cp "$dev_ca" "$work/certs/ca.crt"
    skopeo copy --quiet --all --policy "$work/policy.json" --authfile "$work/alice-auth.json" --dest-cert-dir "$work/certs" \
        "oci:$work/layout-$name:1.0" "docker://$(cluster_field dev registryHost)/shop/$name:1.0"
    echo "pushed $(cluster_field dev registryHost)/shop/$name:1.0"
done
cat > "$work/release.yaml" <<EOF
# The release: three images that share a base; app gets a second tag.
images:
  - source: shop/app:1.0
    tags: ["1.0", stable]
  - source: shop/web:1.0
  - source: shop/worker:1.0
EOF
cat "$work/release.yaml"

say "Planning the release:  imgpromote plan --src-context dev --dest-context prod -f release.yaml -o release.lock.json"
"$imgpromote" plan --src-context dev --dest-context prod -f "$work/release.yaml" -o "$work/release.lock.json"
python3 -c 'import json, sys
for i in json.load(open(sys.argv[1]))["images"]:
    print("  locked", i["source"]["repository"], i["source"]["digest"][:19] + "...", "->", i["destination"]["repository"], ",".join(i["destination"]["tags"]))' \
    "$work/release.lock.json"

say "Applying exactly the locked digests:  imgpromote apply --src-context dev --dest-context prod --junit release.xml release.lock.json"
"$imgpromote" apply --src-context dev --dest-context prod --junit "$work/release.xml" "$work/release.lock.json"
grep -o '<testsuite [^>]*>' "$work/release.xml"

say "Checking the release with skopeo: every prod tag has its dev digest"
for ref in app:1.0 app:stable web:1.0 worker:1.0; do
    cp "$prod_ca" "$work/certs/ca.crt"
    p=$(skopeo inspect --raw --authfile "$work/prod-auth.json" --cert-dir "$work/certs" \
        "docker://$(cluster_field prod registryHost)/shop/$ref" | sha256sum | cut -d' ' -f1)
    cp "$dev_ca" "$work/certs/ca.crt"
    d=$(skopeo inspect --raw --authfile "$work/alice-auth.json" --cert-dir "$work/certs" \
        "docker://$(cluster_field dev registryHost)/shop/${ref%%:*}:1.0" | sha256sum | cut -d' ' -f1)
    echo "prod shop/$ref = sha256:$p"
    [ "$p" = "$d" ] || { echo "demo: shop/$ref differs between dev and prod" >&2; exit 1; }
done

say "Applying the lock again is a no-op (one manifest HEAD per image on prod)"
"$imgpromote" apply --src-context dev --dest-context prod "$work/release.lock.json" >/dev/null

say "Promotion verified: same digests in dev and prod. Stopping the clusters."
