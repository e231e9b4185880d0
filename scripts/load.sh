#!/usr/bin/env bash
# Heavy load checks that do not belong in every CI run (the CI-sized ones are Tests/IntegrationTests/LoadTests.swift):
#
#   big          one 4 GiB layer promoted between two loopback registries; peak RSS of imgpromote measured
#                with GNU time and required to stay <= 64 MiB (MAX_RSS_KIB); digest cross-checked with skopeo
#   concurrent   16 images sharing a base layer: 16 promotions at once into one repository (ROUNDS times,
#                a fresh repository each round), into 16 repositories, and the same 16 one after another;
#                wall times, peak RSS and failures reported; every tag cross-checked with skopeo
#
#   scripts/load.sh                            # both cases, release build
#   CASES=concurrent BIG_SIZE=512M scripts/load.sh
#   IMGPROMOTE_BIN=/path/to/imgpromote LOAD_WORKDIR=/var/tmp scripts/load.sh
#
# Everything runs on 127.0.0.1 (docker-registry, skopeo, python3, GNU time). Registries it starts are
# stopped and its work directory removed on exit, whatever happens. Ends with `load: N passed, N failed`
# (exit 1 if anything failed, 2 if it could not run).
set -euo pipefail

CASES=${CASES:-"big concurrent"}
BIG_SIZE=${BIG_SIZE:-4G}
MAX_RSS_KIB=${MAX_RSS_KIB:-65536}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE_DIR=${LOAD_WORKDIR:-${TMPDIR:-/tmp}}

say() { echo "load: $*" >&2; }
die() { echo "load: $*" >&2; echo "load: 0 passed, 0 failed (could not run)"; exit 2; }

for tool in docker-registry skopeo python3 curl bc sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
[ -x /usr/bin/time ] || die "GNU time is missing (apt-get install time)"

size_bytes() { python3 -c 'import sys; s=sys.argv[1]; m={"K":1<<10,"M":1<<20,"G":1<<30}; print(int(s[:-1])*m[s[-1]] if s[-1] in m else int(s))' "$1"; }

# Disk: the big case holds the layout, the source's and the destination's copy of the layer at once
# (the layout is deleted after seeding, but do not count on it); the concurrent case needs ~1 GiB.
need=$(( 1 << 30 ))
if [[ " $CASES " == *" big "* ]]; then need=$(( need + 3 * $(size_bytes "$BIG_SIZE") )); fi
mkdir -p "$BASE_DIR"
avail=$(( $(df -Pk "$BASE_DIR" | awk 'NR==2 {print $4}') * 1024 ))
if (( avail < need )); then
    die "not enough disk in $BASE_DIR: $(( avail >> 20 )) MiB free, $(( need >> 20 )) MiB needed (set LOAD_WORKDIR or BIG_SIZE)"
fi

WORK=$(mktemp -d "$BASE_DIR/imgpromote-load.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] || continue
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] || continue
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BIN=${IMGPROMOTE_BIN:-}
if [ -z "$BIN" ]; then
    SCRATCH=${LOAD_SCRATCH:-$ROOT/.build}
    say "building imgpromote (release, $SCRATCH)"
    (cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" --product imgpromote >/dev/null)
    BIN=$(cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/imgpromote
fi
[ -x "$BIN" ] || die "no imgpromote binary at $BIN"

PASSED=0 FAILED=0
pass() { PASSED=$((PASSED + 1)); say "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); say "FAIL $*"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A PORT
start_registry() {   # start_registry NAME
    local name=$1 port
    port=$(free_port)
    mkdir -p "$WORK/$name"
    cat > "$WORK/$name.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/$name}, delete: {enabled: true}, maintenance: {uploadpurging: {enabled: false}}}
http: {addr: 127.0.0.1:$port}
EOF
    docker-registry serve "$WORK/$name.yml" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    PORT[$name]=$port
    for _ in $(seq 1 200); do
        curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    die "registry $name did not start: $(tail -5 "$WORK/$name.log")"
}

echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$WORK/policy.json"
export HOME="$WORK/home" XDG_RUNTIME_DIR="$WORK/home" TMPDIR="$WORK/tmp"
mkdir -p "$HOME" "$TMPDIR"
unset REGISTRY_AUTH_FILE KUBECONFIG HTTP_PROXY HTTPS_PROXY http_proxy https_proxy || true
seed() {   # seed LAYOUT TAG REF
    skopeo copy --quiet --preserve-digests --policy "$WORK/policy.json" --dest-tls-verify=false \
        "oci:$1:$2" "docker://$3"
}
digest_of() {   # digest_of REF: sha256 of the manifest a real client reads ("absent" if it cannot)
    local raw="$WORK/inspect.$$.$RANDOM"
    if skopeo inspect --raw --tls-verify=false "docker://$1" >"$raw" 2>/dev/null; then
        sha256sum < "$raw" | awk '{print "sha256:" $1}'
    else
        echo absent
    fi
    rm -f "$raw"
}
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l | xargs printf '%.1f'; }
IMGP=("$BIN" copy -q --src-tls-verify=false --dest-tls-verify=false)

start_registry src
start_registry dst
SRC=127.0.0.1:${PORT[src]} DST=127.0.0.1:${PORT[dst]}

# ---------------------------------------------------------------------------------------------------
if [[ " $CASES " == *" big "* ]]; then
    say "big: generating a $BIG_SIZE layer"
    t=$(now)
    want=$(python3 "$ROOT/bench/make-image.py" "$WORK/big" v1 --layers "1x$BIG_SIZE" --seed 41)
    say "big: generated in $(since "$t")s; seeding the source with skopeo"
    t=$(now)
    seed "$WORK/big" v1 "$SRC/load/big:v1"
    say "big: seeded in $(since "$t")s"
    rm -rf "$WORK/big"
    t=$(now)
    set +e
    /usr/bin/time -f %M -o "$WORK/big.rss" "${IMGP[@]}" "$SRC/load/big:v1" "$DST/load/big:v1" >"$WORK/big.out" 2>"$WORK/big.err"
    rc=$?
    set -e
    secs=$(since "$t")
    rss=$(tail -1 "$WORK/big.rss")
    bytes=$(size_bytes "$BIG_SIZE")
    rate=$(echo "$bytes / 1048576 / $secs" | bc -l | xargs printf '%.0f')
    got=$(digest_of "$DST/load/big:v1")
    say "big: exit=$rc seconds=$secs throughput=${rate}MiB/s peakRSS=${rss}KiB ($(( rss / 1024 ))MiB) limit=${MAX_RSS_KIB}KiB"
    if [ "$rc" -ne 0 ]; then
        fail "big: imgpromote exited $rc: $(tail -2 "$WORK/big.err")"
    elif [ "$got" != "$want" ] || [ "$(cat "$WORK/big.out")" != "$DST/load/big@$want" ]; then
        fail "big: destination digest $got, expected $want"
    elif [ "$rss" -gt "$MAX_RSS_KIB" ]; then
        fail "big: peak RSS ${rss}KiB above ${MAX_RSS_KIB}KiB"
    else
        pass "big: $BIG_SIZE layer, peak RSS $(( rss / 1024 )) MiB, ${secs}s"
    fi
    # Free the disk before the next case.
    kill "${PIDS[0]}" "${PIDS[1]}" 2>/dev/null || true
    wait "${PIDS[0]}" "${PIDS[1]}" 2>/dev/null || true
    rm -rf "$WORK/src" "$WORK/dst"
    PIDS=()
    start_registry src
    start_registry dst
    SRC=127.0.0.1:${PORT[src]} DST=127.0.0.1:${PORT[dst]}
fi

# ---------------------------------------------------------------------------------------------------
if [[ " $CASES " == *" concurrent "* ]]; then
    say "concurrent: generating 16 images sharing a 16 MiB base layer"
    python3 - "$WORK/many" "$ROOT/bench/make-image.py" <<'EOF' > "$WORK/many.digests"
import importlib.util, json, os, random, sys
spec = importlib.util.spec_from_file_location("make_image", sys.argv[2])
mi = importlib.util.module_from_spec(spec); spec.loader.exec_module(mi)
root = sys.argv[1]
os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
rng = random.Random(7)
def layer(size):
    d, s = mi.write_blob(root, mi.random_bytes(rng, size))
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s}
base = layer(16 << 20)
tops = []
for i in range(16):
    layers = [base, layer(2 << 20), layer(64 << 10)]
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]},
              "config": {"Labels": {"image": str(i)}}}
    cd, cs = mi.write_blob(root, [json.dumps(config, sort_keys=True).encode()])
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs}, "layers": layers}
    md, ms = mi.write_blob(root, [json.dumps(m, sort_keys=True).encode()])
    tops.append({"mediaType": m["mediaType"], "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": f"t{i}"}})
    print(md)
with open(os.path.join(root, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": tops}, f)
with open(os.path.join(root, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
EOF
    mapfile -t WANT < "$WORK/many.digests"
    for i in $(seq 0 15); do seed "$WORK/many" "t$i" "$SRC/load/app:t$i"; done

    # run_batch LABEL MODE REPO_TEMPLATE: MODE parallel|serial; REPO_TEMPLATE with %d for the image number
    run_batch() {
        local label=$1 mode=$2 template=$3 i t ok=0 bad=0 maxrss=0 rss repo got jobs=()
        mkdir -p "$WORK/$label"
        one() {   # one I REPO
            local rc=0
            /usr/bin/time -f %M -o "$WORK/$label/$1.rss" "${IMGP[@]}" "$SRC/load/app:t$1" "$DST/$2" \
                >"$WORK/$label/$1.out" 2>"$WORK/$label/$1.err" || rc=$?
            echo "$rc" > "$WORK/$label/$1.rc"
        }
        t=$(now)
        for i in $(seq 0 15); do
            repo=$(printf "$template" "$i")
            if [ "$mode" = parallel ]; then
                one "$i" "$repo" &
                jobs+=($!)
            else
                one "$i" "$repo"
            fi
        done
        for j in "${jobs[@]:-}"; do [ -n "$j" ] && wait "$j"; done
        local secs; secs=$(since "$t")
        for i in $(seq 0 15); do
            repo=$(printf "$template" "$i")
            rss=$(tail -1 "$WORK/$label/$i.rss" 2>/dev/null || echo 0)
            [[ "$rss" =~ ^[0-9]+$ ]] || rss=0
            (( rss > maxrss )) && maxrss=$rss
            got=$(digest_of "$DST/$repo")
            if [ "$(cat "$WORK/$label/$i.rc")" = 0 ] && [ "$got" = "${WANT[$i]}" ]; then
                ok=$((ok + 1))
            else
                bad=$((bad + 1))
                say "  $label #$i: exit $(cat "$WORK/$label/$i.rc"), digest $got: $(grep -v warning "$WORK/$label/$i.err" | tail -1)"
            fi
        done
        say "$label: wall=${secs}s ok=$ok failed=$bad maxPeakRSS=$(( maxrss / 1024 ))MiB"
        if [ "$bad" -eq 0 ]; then pass "$label (${secs}s)"; else fail "$label: $bad of 16 failed"; fi
    }

    for r in $(seq 1 "$ROUNDS"); do
        run_batch "concurrent16-one-repository-round$r" parallel "round$r/app:t%d"
    done
    run_batch "concurrent16-separate-repositories" parallel "sep/app%d:v1"
    run_batch "sequential16-separate-repositories" serial "seq/app%d:v1"
fi

echo "load: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
