#!/usr/bin/env bash
# A 30-image release (3 bases x 10 apps, 1-3 own layers each) promoted by imgpromote (`promote -f`),
# by `skopeo sync --src yaml`, and by a shell loop of `skopeo copy`, on loopback and at +20 ms each
# way (bench/latency-proxy.c). Cold runs start from an empty destination; no-op runs repeat a
# finished release. Not a timed test: run it by hand and paste the table into the README.
#
#   bench/release.sh                                  # full size: ~200 MiB unique, ~750 MiB summed per image
#   BASE_MIB=2 APP_MIB=1 APPS_PER_BASE=2 RUNS=1 SCENARIOS="cold noop" bench/release.sh   # a smoke run
#   IMGPROMOTE_ARGS="--jobs 16" bench/release.sh      # extra imgpromote flags
#
#   RUNS=9 SCENARIOS=noop BASE_MIB=2 APP_MIB=0.2 bench/release.sh   # only the no-op rerun, small and quick
#
# Columns: median wall time per tool (and the range of the runs), the destination's and the source's
# requests (access logs) and the destination's blob upload requests (PUT/PATCH on /blobs/uploads/),
# against the release's unique blob count. Scenarios: cold, cold20, noop, noop20, and noopbare and
# noopbare20 (the no-op rerun with --attachments none); SCENARIOS picks.
# Everything it starts it stops; all traffic stays on 127.0.0.1.
set -euo pipefail

RUNS=${RUNS:-3}
SCENARIOS=${SCENARIOS:-"cold cold20 noop noopbare noop20"}
BASES=${BASES:-3}
APPS_PER_BASE=${APPS_PER_BASE:-10}
BASE_MIB=${BASE_MIB:-20}        # each base: two layers of BASE_MIB/2
APP_MIB=${APP_MIB:-2.3}         # each own layer; app i has 1 + i%3 of them
source "$(dirname "$0")/lib.sh"
bench_init release-bench skopeo bc
bench_binary

start_registry src
start_registry dst
start_proxy src20 src 20
start_proxy dst20 dst 20

# The release: OCI layouts app01..appNN, app i on base (i-1) % BASES; shared blobs are the same bytes.
echo "bench: generating and seeding $((BASES * APPS_PER_BASE)) images" >&2
python3 - "$WORK/images" "$BASES" "$APPS_PER_BASE" "$BASE_MIB" "$APP_MIB" > "$WORK/unique-blobs" <<'PY'
import hashlib, json, os, random, sys
out, bases, per, base_mib, app_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
unique = {}
def blob(d, data):
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(d, "blobs", "sha256", digest), "wb") as f: f.write(data)
    unique["sha256:" + digest] = len(data)
    return {"digest": "sha256:" + digest, "size": len(data)}
def layer(seed, mib):
    return random.Random(seed).randbytes(int(mib * (1 << 20)))
base_layers = [[layer(1000 * b + j, base_mib / 2) for j in range(2)] for b in range(bases)]
for i in range(1, bases * per + 1):
    d = os.path.join(out, f"app{i:02d}")
    layers = base_layers[(i - 1) % bases] + [layer(10_000 + 10 * i + j, app_mib) for j in range(1 + i % 3)]
    descs = [dict(blob(d, l), mediaType="application/vnd.oci.image.layer.v1.tar") for l in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"app": str(i)}},
                         "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in descs]}}, sort_keys=True).encode()
    cd = dict(blob(d, config), mediaType="application/vnd.oci.image.config.v1+json")
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cd, "layers": descs},
                   sort_keys=True).encode()
    md = hashlib.sha256(m).hexdigest()
    with open(os.path.join(d, "blobs", "sha256", md), "wb") as f: f.write(m)
    top = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + md, "size": len(m),
           "annotations": {"org.opencontainers.image.ref.name": "v1"}}
    json.dump({"schemaVersion": 2, "manifests": [top]}, open(os.path.join(d, "index.json"), "w"))
    json.dump({"imageLayoutVersion": "1.0.0"}, open(os.path.join(d, "oci-layout"), "w"))
print(len(unique), sum(unique.values()))
PY
read -r UNIQUE_BLOBS UNIQUE_BYTES < "$WORK/unique-blobs"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$WORK/policy.json"
APPS=$(cd "$WORK/images" && ls)
for app in $APPS; do
    skopeo copy -q --policy "$WORK/policy.json" --dest-tls-verify=false "oci:$WORK/images/$app:v1" \
        "docker://127.0.0.1:${PORT[src]}/bench/$app:v1" >/dev/null
done

write_files() {   # write_files SRC_NAME DST_NAME: imgpromote's promotion file and skopeo sync's YAML
    { echo "source: {registry: \"127.0.0.1:${PORT[$1]}\", project: bench}"
      echo "destination: {registry: \"127.0.0.1:${PORT[$2]}\", project: prod}"
      echo "images:"
      for app in $APPS; do echo "  - source: $app:v1"; done; } > "$WORK/release-$1.yaml"
    { echo "127.0.0.1:${PORT[$1]}:"
      echo "  tls-verify: false"
      echo "  images:"
      for app in $APPS; do echo "    bench/$app: [v1]"; done; } > "$WORK/sync-$1.yaml"
}
write_files src dst
write_files src20 dst20

export XDG_DATA_HOME="$WORK/xdg"   # skopeo's blob-info cache: emptied before every skopeo run
RESULTS="$WORK/results.tsv"; : > "$RESULTS"
measure() {   # measure SCENARIO TOOL -- command...
    local scenario=$1 tool=$2; shift 3
    local before ups src; before=$(requests dst); ups=$(upload_requests dst); src=$(requests src)
    sync
    local reg0; reg0=$(process_cpu_ms "${PID[src]}" "${PID[dst]}")
    times >"$WORK/times0"
    local t0=$EPOCHREALTIME
    if ! "$@" >"$WORK/out" 2>"$WORK/err"; then echo "bench: $tool failed in $scenario:" >&2; tail -5 "$WORK/err" >&2; exit 1; fi
    local t1=$EPOCHREALTIME
    times >"$WORK/times1"
    local reg1; reg1=$(process_cpu_ms "${PID[src]}" "${PID[dst]}")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$tool" "$(echo "$t1 - $t0" | bc -l)" \
        "$(( $(requests dst) - before ))" "$(( $(upload_requests dst) - ups ))" "$(( $(requests src) - src ))" \
        "$(( $(children_cpu_ms "$WORK/times1") - $(children_cpu_ms "$WORK/times0") ))" "$(( reg1 - reg0 ))" >> "$RESULTS"
}
skopeo_loop() {   # skopeo_loop SRC DST
    for app in $APPS; do
        skopeo copy -q --all --policy "$WORK/policy.json" --src-tls-verify=false --dest-tls-verify=false \
            "docker://127.0.0.1:${PORT[$1]}/bench/$app:v1" "docker://127.0.0.1:${PORT[$2]}/loop/$app:v1" || return 1
    done
}

for scenario in $SCENARIOS; do
    echo "bench: $scenario" >&2
    s=src; d=dst; [[ $scenario == *20 ]] && { s=src20; d=dst20; }
    # shellcheck disable=SC2206  # IMGPROMOTE_ARGS: extra flags, word-split on purpose (e.g. "--jobs 16")
    IMGP=("$BIN" promote -q --src-tls-verify=false --dest-tls-verify=false ${IMGPROMOTE_ARGS:-} -f "$WORK/release-$s.yaml")
    # noopbare: the no-op rerun without the per-image look for attachments added since (a source tag
    # list each), which is what skopeo sync's rerun checks too.
    [[ $scenario == noopbare* ]] && IMGP+=(--attachments none)
    SYNC=(skopeo sync --all --policy "$WORK/policy.json" --src yaml --dest docker --dest-tls-verify=false
          "$WORK/sync-$s.yaml" "127.0.0.1:${PORT[$d]}/sync")
    for run in $(seq 1 "$RUNS"); do
        # Odd runs imgpromote first, even runs last: neither tool always follows the other's burst
        # (the registries answer more slowly for a while after one).
        order="imgpromote skopeo-sync skopeo-loop"; (( run % 2 == 0 )) && order="skopeo-loop skopeo-sync imgpromote"
        for tool in $order; do
            [[ $scenario == noop* && $tool == skopeo-loop ]] && continue
            rm -rf "$XDG_DATA_HOME"
            if [[ $scenario == cold* ]]; then
                reset_registry dst
            elif [ "$run" = 1 ] && [ "$tool" = imgpromote ]; then
                reset_registry dst; "${IMGP[@]}" >/dev/null 2>&1; "${SYNC[@]}" >/dev/null 2>&1
            fi
            case $tool in
                imgpromote) measure "$scenario" "$tool" -- "${IMGP[@]}" ;;
                skopeo-sync) measure "$scenario" "$tool" -- "${SYNC[@]}" ;;
                skopeo-loop) measure "$scenario" "$tool" -- skopeo_loop "$s" "$d" ;;
            esac
        done
    done
done

python3 - "$RESULTS" "$UNIQUE_BLOBS" "$UNIQUE_BYTES" "$(echo $APPS | wc -w)" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    sc, tool, wall, req, ups, src, own, reg = line.rstrip("\n").split("\t")
    rows[(sc, tool)].append((float(wall), int(req), int(ups), int(src), int(own) / 1000, int(reg) / 1000))
names = {"cold": "cold release", "cold20": "cold release, +20 ms each way",
         "noop": "no-op rerun", "noop20": "no-op rerun, +20 ms each way",
         "noopbare": "no-op rerun, --attachments none", "noopbare20": "no-op rerun, --attachments none, +20 ms"}
print("| scenario | imgpromote s | skopeo sync s | sync/imgpromote | skopeo copy loop s | loop/imgpromote | dest requests imgpromote / sync / loop | source requests imgpromote / sync / loop | blob uploads imgpromote / sync / loop |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for sc, label in names.items():
    a = rows.get((sc, "imgpromote"))
    if not a: continue
    b, c = rows.get((sc, "skopeo-sync"), []), rows.get((sc, "skopeo-loop"), [])
    med = lambda r, i: statistics.median(x[i] for x in r) if r else float("nan")
    ta, tb, tc = med(a, 0), med(b, 0), med(c, 0)
    ratio = lambda t: f"{t / max(ta, 0.001):.2f}x" if t == t else "–"
    num = lambda r, i: f"{med(r, i):.0f}" if r else "–"
    span = lambda r: f" ({min(x[0] for x in r):.2f}–{max(x[0] for x in r):.2f})" if len(r) > 1 else ""
    secs = lambda t, r: f"{t:.2f}{span(r)}" if t == t else "–"
    print(f"| {label} | {secs(ta, a)} | {secs(tb, b)} | {ratio(tb)} | {secs(tc, c)} | {ratio(tc)} | {num(a,1)} / {num(b,1)} / {num(c,1)} "
          f"| {num(a,3)} / {num(b,3)} / {num(c,3)} | {num(a,2)} / {num(b,2)} / {num(c,2)} |")
# Where the time goes: CPU of the tool and of both registries during its runs. On the 2 cores they
# share, (tool + registries) / 2 is the least wall time any schedule of that work could take.
print("\n| scenario | CPU s imgpromote + registries (2-core floor) | CPU s skopeo sync + registries (2-core floor) |")
print("|---|---:|---:|")
for sc, label in names.items():
    cells = []
    for tool in ("imgpromote", "skopeo-sync"):
        r = rows.get((sc, tool))
        if not r:
            cells.append("–"); continue
        own, reg = statistics.median(x[4] for x in r), statistics.median(x[5] for x in r)
        cells.append(f"{own:.2f} + {reg:.2f} ({(own + reg) / 2:.2f})")
    if rows.get((sc, "imgpromote")): print(f"| {label} | {cells[0]} | {cells[1]} |")
print(f"\n{sys.argv[4]} images, {sys.argv[2]} unique blobs ({int(sys.argv[3]) / 2**20:.0f} MiB); median of the runs; "
      "loopback docker-registry; skopeo with an empty blob-info cache before every run.")
PY
