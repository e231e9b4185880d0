#!/usr/bin/env bash
# What attachments cost: `imgpromote copy --attachments all` (the default) against `--attachments none`,
# for images with nothing attached and with cosign signatures (written by skopeo), through the +20 ms
# delaying proxy on both sides. Prints a markdown table: median wall time per mode and the requests
# each registry received per copy (from their access logs).
#
#   bench/attachments.sh               # RUNS=5
#   IMGPROMOTE_BIN=.build/debug/imgpromote RUNS=3 bench/attachments.sh
#
# Everything it starts it stops; all traffic stays on 127.0.0.1.
set -euo pipefail

RUNS=${RUNS:-5}
source "$(dirname "$0")/lib.sh"
bench_init bench-att skopeo openssl
bench_binary

start_registry src
start_registry dst
start_proxy src20 src 20
start_proxy dst20 dst 20
SRC=127.0.0.1:${PORT[src]}
echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$WORK/policy.json"
mkdir -p "$WORK/registries.d"
printf 'docker:\n  %s:\n    use-sigstore-attachments: true\n' "$SRC" > "$WORK/registries.d/a.yaml"
SKOPEO=(skopeo copy --all --policy "$WORK/policy.json" --src-tls-verify=false --dest-tls-verify=false)

echo "bench: seeding" >&2
python3 "$ROOT/bench/make-image.py" "$WORK/single" v1 --layers 2x1M --seed 31 >/dev/null
python3 "$ROOT/bench/make-image.py" "$WORK/index" v1 --layers 2x1M --platforms linux/amd64,linux/arm64 --seed 32 >/dev/null
"${SKOPEO[@]}" "oci:$WORK/single:v1" "docker://$SRC/dev/single:v1" >/dev/null
"${SKOPEO[@]}" "oci:$WORK/index:v1" "docker://$SRC/dev/index:v1" >/dev/null
# The same index, signed: a cosign signature per manifest (openssl ECDSA P-256), written by skopeo.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/sign.key" 2>/dev/null
"${SKOPEO[@]}" "docker://$SRC/dev/index:v1" "dir:$WORK/signed" >/dev/null
python3 - "$WORK/signed" "$WORK/sign.key" "$SRC/dev/signed" <<'EOF'
import base64, hashlib, json, os, subprocess, sys
d, key, ref = sys.argv[1:4]
def sign(digest, name):
    payload = json.dumps({"critical": {"identity": {"docker-reference": ref}, "image": {"docker-manifest-digest": digest},
                          "type": "cosign container image signature"}, "optional": None}).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=payload, capture_output=True, check=True).stdout
    doc = {"mimeType": "application/vnd.dev.cosign.simplesigning.v1+json", "payload": base64.b64encode(payload).decode(),
           "annotations": {"dev.cosignproject.cosign/signature": base64.b64encode(sig).decode()}}
    open(os.path.join(d, name), "wb").write(b"\0sigstore-json\n" + json.dumps(doc).encode())
sign("sha256:" + hashlib.sha256(open(os.path.join(d, "manifest.json"), "rb").read()).hexdigest(), "signature-1")
for f in os.listdir(d):
    if f.endswith(".manifest.json"):
        sign("sha256:" + f.split(".")[0], f.split(".")[0] + ".signature-1")
EOF
"${SKOPEO[@]}" --registries.d "$WORK/registries.d" "dir:$WORK/signed" "docker://$SRC/dev/signed:v1" >/dev/null

IMGP=("$BIN" copy -q --src-tls-verify=false --dest-tls-verify=false)
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "| image | attachments | median s (+20 ms) | source requests | destination requests |"
echo "|---|---|---|---|---|"
n=0
for image in single index signed; do
    for mode in none all; do
        times=()
        for run in $(seq 1 "$RUNS"); do
            n=$((n + 1))
            s0=$(requests src); d0=$(requests dst)
            t0=$(date +%s.%N)
            "${IMGP[@]}" --attachments "$mode" "127.0.0.1:${PORT[src20]}/dev/$image:v1" "127.0.0.1:${PORT[dst20]}/run$n/$image:v1" >/dev/null 2>&1
            t1=$(date +%s.%N)
            sleep 0.2   # the access log is written after the response
            times+=("$(echo "$t1 - $t0" | bc)")
            sreq=$(( $(requests src) - s0 )); dreq=$(( $(requests dst) - d0 ))
        done
        printf '| %s | %s | %.3f | %d | %d |\n' "$image" "$mode" "$(printf '%s\n' "${times[@]}" | median)" "$sreq" "$dreq"
    done
done
