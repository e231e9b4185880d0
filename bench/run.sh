#!/usr/bin/env bash
# imgpromote vs skopeo, side by side on identical work, on loopback registries (Debian docker-registry).
#
#   bench/run.sh              # RUNS=3 per tool and scenario, alternating tools
#   RUNS=5 SCENARIOS="cold noop" bench/run.sh
#
# Prints a markdown table: median wall time, skopeo/imgpromote ratio, peak RSS of the copying process
# and the requests the destination registry received (from its access log). Everything it starts it
# stops; all traffic stays on 127.0.0.1.
set -euo pipefail

# skopeo mounts only blobs its on-disk blob-info cache has seen in that registry, so the cache must be
# under the bench's control (see SKOPEO below). As root that cache is /var/lib/containers/cache: run the
# whole bench in a mount namespace of its own with a private tmpfs there, which leaves the machine's
# cache alone and costs the measured commands nothing.
if [ "$(id -u)" = 0 ] && [ -z "${IMGPROMOTE_BENCH_NS:-}" ]; then
    mkdir -p /var/lib/containers/cache
    IMGPROMOTE_BENCH_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
if [ -n "${IMGPROMOTE_BENCH_NS:-}" ]; then
    mount -t tmpfs -o size=64m,mode=0700 tmpfs /var/lib/containers/cache
fi

RUNS=${RUNS:-3}
SCENARIOS=${SCENARIOS:-"cold cold20 index index20 noop noop20 same same20 big"}
source "$(dirname "$0")/lib.sh"
bench_init bench skopeo bc
[ -x /usr/bin/time ] || { echo "bench: GNU time is missing (apt-get install time)" >&2; exit 2; }
bench_binary

echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$WORK/policy.json"
SKOPEO=(skopeo copy --all --policy "$WORK/policy.json" --src-tls-verify=false --dest-tls-verify=false)
# Pipelines run skopeo in ephemeral agent pods whose cache starts empty every build: that is the main
# comparison ("skopeo": the cache emptied before every run). "skopeo-warm" restores the cache as it was
# right after seeding the source (it knows every blob's location there), skopeo's best case, shown for
# the same-registry scenarios where the cache decides mount vs upload.
if [ -n "${IMGPROMOTE_BENCH_NS:-}" ]; then
    SKOPEO_CACHE=/var/lib/containers/cache
else
    export XDG_DATA_HOME="$WORK/xdg"
    SKOPEO_CACHE="$XDG_DATA_HOME/containers/cache"
fi
mkdir -p "$SKOPEO_CACHE"
skopeo_cache() {   # skopeo_cache empty|warm
    find "$SKOPEO_CACHE" -mindepth 1 -delete
    if [ "$1" = warm ]; then cp -a "$WORK/warm-cache/." "$SKOPEO_CACHE/"; fi
}
IMGP=("$BIN" copy -q --src-tls-verify=false --dest-tls-verify=false)

start_registry src
start_registry dst
start_proxy src20 src 20
start_proxy dst20 dst 20

echo "bench: generating and seeding images" >&2
# Only the images the chosen scenarios copy (SCENARIOS="index index20" needs no 500 MiB cold image).
imgs=""
if [[ " $SCENARIOS " =~ \ (cold|noop|same) ]]; then
    python3 "$ROOT/bench/make-image.py" "$WORK/cold" v1 --layers 5x100M --seed 11 >/dev/null
    imgs="cold"
fi
if [[ " $SCENARIOS " == *" index"* ]]; then
    python3 "$ROOT/bench/make-image.py" "$WORK/index" v1 --layers 4x25M --platforms linux/amd64,linux/arm64 --seed 12 >/dev/null
    imgs="$imgs index"
fi
if [[ " $SCENARIOS " == *" big "* ]]; then
    python3 "$ROOT/bench/make-image.py" "$WORK/big" v1 --layers 1x1G --seed 13 >/dev/null
    imgs="$imgs big"
fi
for img in $imgs; do
    skopeo copy --all --policy "$WORK/policy.json" --dest-tls-verify=false "oci:$WORK/$img:v1" \
        "docker://127.0.0.1:${PORT[src]}/bench/$img:v1" >/dev/null
done
# The same push through the delaying proxy finds every blob present and uploads nothing, but teaches
# skopeo's cache that the blobs live behind that address too (its warm case for same20).
if [[ " $imgs " == *" cold "* ]]; then
    skopeo copy --all --policy "$WORK/policy.json" --dest-tls-verify=false "oci:$WORK/cold:v1" \
        "docker://127.0.0.1:${PORT[src20]}/bench/cold:v1" >/dev/null
fi

mkdir -p "$WORK/warm-cache"; cp -a "$SKOPEO_CACHE/." "$WORK/warm-cache/"

RESULTS="$WORK/results.tsv"
: > "$RESULTS"
# measure SCENARIO TOOL REGISTRY -- command...  (wall s, peak RSS KiB, dest requests, dest blob uploads)
measure() {
    local scenario=$1 tool=$2 reg=$3; shift 4
    local before ups_before
    before=$(requests "$reg"); ups_before=$(upload_requests "$reg")
    # Every run starts with no dirty pages: the previous run's (or the seeding's) writeback must not
    # land on this one.
    sync
    # Wall time from bash's microsecond clock (GNU time's %e has 10 ms steps: too coarse for a
    # no-op); GNU time for peak RSS.
    local reg0; reg0=$(process_cpu_ms "${PID[src]}" "${PID[dst]}")
    local t0=$EPOCHREALTIME
    if ! /usr/bin/time -f "%M %U %S" -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err"; then
        echo "bench: $tool failed in $scenario:" >&2; tail -5 "$WORK/err" >&2; exit 1
    fi
    local t1=$EPOCHREALTIME wall rss user sys reg1
    reg1=$(process_cpu_ms "${PID[src]}" "${PID[dst]}")
    wall=$(echo "$t1 - $t0" | bc -l)
    read -r rss user sys < "$WORK/time"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$tool" "$wall" "$rss" \
        "$(( $(requests "$reg") - before ))" "$(( $(upload_requests "$reg") - ups_before ))" "$(echo "$user + $sys" | bc -l)" \
        "$(( reg1 - reg0 ))" >> "$RESULTS"
}

src_ref() { echo "127.0.0.1:${PORT[$1]}/bench/$2:v1"; }

# Ceiling: curl uploading the same 5 x 100 MiB layers straight from disk into an empty destination
# (POST + monolithic PUT streamed from the file with -T, 5 in parallel): no source GET, no hashing.
# Measured in the rotation of the cold scenarios, directly and through the +20 ms proxy, so it sees
# the same machine state as the tools.
cold_layers=""
[ -d "$WORK/cold" ] && cold_layers=$(python3 -c "import json; d='$WORK/cold'; top=json.load(open(d+'/index.json'))['manifests'][0]['digest'][7:]; m=json.load(open(d+'/blobs/sha256/'+top)); print(' '.join(l['digest'] for l in m['layers']))")
ceiling() {   # ceiling SCENARIO REGISTRY_OR_PROXY
    local uploads=() blob t0 t1
    sync
    t0=$EPOCHREALTIME
    for blob in $cold_layers; do
        (loc=$(curl -fsS -X POST -D - -o /dev/null "http://127.0.0.1:${PORT[$2]}/v2/ceiling/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
         case $loc in http*) ;; *) loc="http://127.0.0.1:${PORT[$2]}$loc" ;; esac
         sep='?'; [[ $loc == *\?* ]] && sep='&'
         curl -fsS -H 'Content-Type: application/octet-stream' -H 'Expect:' -T "$WORK/cold/blobs/sha256/${blob#sha256:}" \
             "$loc${sep}digest=$blob" -o /dev/null) &
        uploads+=($!)
    done
    for u in "${uploads[@]}"; do wait "$u"; done
    t1=$EPOCHREALTIME
    printf '%s\tcurl-ceiling\t%s\t0\t0\t5\t0\t0\n' "$1" "$(echo "$t1 - $t0" | bc -l)" >> "$RESULTS"
}

for scenario in $SCENARIOS; do
    echo "bench: $scenario" >&2
    tools="imgpromote skopeo"
    [[ $scenario == same* ]] && tools="imgpromote skopeo skopeo-warm"
    [[ $scenario == cold || $scenario == cold20 ]] && tools="imgpromote skopeo curl-ceiling"
    for run in $(seq 1 "$RUNS"); do
        for tool in $tools; do
            case $scenario in
                cold|cold20|index|index20|big)
                    img=${scenario%20}; s=src; d=dst
                    if [ "$scenario" != "$img" ]; then s=src20; d=dst20; fi
                    reset_registry dst
                    from="$(src_ref $s "$img")"; to="127.0.0.1:${PORT[$d]}/prod/$img:v1" ;;
                noop|noop20)
                    s=src; d=dst; [ "$scenario" = noop20 ] && { s=src20; d=dst20; }
                    from="$(src_ref $s cold)"; to="127.0.0.1:${PORT[$d]}/prod/noop:v1"
                    if [ "$run" = 1 ] && [ "$tool" = imgpromote ]; then reset_registry dst; "${IMGP[@]}" "$from" "$to" >/dev/null 2>&1; fi ;;
                same|same20)
                    s=src; [ "$scenario" = same20 ] && s=src20
                    from="$(src_ref $s cold)"; to="127.0.0.1:${PORT[$s]}/promoted-$scenario-$tool-$run/cold:v1" ;;
            esac
            reg=dst; [[ $scenario == same* ]] && reg=src
            case $tool in
                imgpromote)  measure "$scenario" "$tool" "$reg" -- "${IMGP[@]}" "$from" "$to" ;;
                skopeo)      skopeo_cache empty; measure "$scenario" "$tool" "$reg" -- "${SKOPEO[@]}" "docker://$from" "docker://$to" ;;
                skopeo-warm) skopeo_cache warm; measure "$scenario" "$tool" "$reg" -- "${SKOPEO[@]}" "docker://$from" "docker://$to" ;;
                curl-ceiling) ceiling "$scenario" "$d" ;;
            esac
        done
    done
done

python3 - "$RESULTS" <<'PY'
import statistics, sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    sc, tool, wall, rss, req, ups, cpu, reg = line.rstrip("\n").split("\t")
    rows[(sc, tool)].append((float(wall), int(rss), int(req), int(ups), float(cpu), int(reg) / 1000))
names = {"cold": "cold copy, 5 x 100 MiB layers", "cold20": "cold copy, 5 x 100 MiB, +20 ms each way",
         "index": "2-platform index (4 x 25 MiB each, 1 shared)", "index20": "2-platform index, +20 ms each way",
         "noop": "no-op rerun (tag already there)", "noop20": "no-op rerun, +20 ms each way",
         "same": "same-registry promotion (mount)", "same20": "same-registry promotion, +20 ms each way",
         "big": "one 1 GiB layer"}
print("| scenario | imgpromote s | skopeo s | skopeo/imgpromote | range over runs | imgpromote peak RSS MiB | skopeo peak RSS MiB | dest requests imgpromote / skopeo | blob upload requests imgpromote / skopeo |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
fmt = lambda t: f"{t:.3f}" if t < 1 else f"{t:.2f}"
for sc in names:
    for tool, label in (("skopeo", ""), ("skopeo-warm", " — skopeo with a warm blob-info cache")):
        a, b = rows.get((sc, "imgpromote")), rows.get((sc, tool))
        if not a or not b: continue
        med = lambda r, i: statistics.median(x[i] for x in r)
        ta, tb = med(a, 0), med(b, 0)
        # Run i of one tool against run i of the other (they ran back to back): the spread of the ratio.
        pairs = [y[0] / max(x[0], 0.001) for x, y in zip(a, b)]
        spread = f"{min(pairs):.2f}–{max(pairs):.2f}x"
        print(f"| {names[sc]}{label} | {fmt(ta)} | {fmt(tb)} | {tb/max(ta,0.001):.2f}x | {spread} | {max(x[1] for x in a)/1024:.1f} | {max(x[1] for x in b)/1024:.1f} "
              f"| {med(a,2):.0f} / {med(b,2):.0f} | {med(a,3):.0f} / {med(b,3):.0f} |")
for sc, where in (("cold", "directly"), ("cold20", "through the +20 ms proxy")):
    c, a, b = rows.get((sc, "curl-ceiling")), rows.get((sc, "imgpromote")), rows.get((sc, "skopeo"))
    if not c or not a: continue
    tc, ta = statistics.median(x[0] for x in c), statistics.median(x[0] for x in a)
    line = (f"\nCeiling, {where}: curl PUTting the same 5 blobs from disk into the destination: {tc:.2f} s median; "
            f"imgpromote's cold copy (GET from the source as well) takes {ta/tc:.2f}x that ({(ta/tc-1)*100:+.0f}%)")
    if b: line += f"; skopeo takes {statistics.median(x[0] for x in b)/tc:.2f}x"
    print(line + ".")
def cpu_of(sc, tool):
    r = rows[(sc, tool)]
    own, reg = statistics.median(x[4] for x in r), statistics.median(x[5] for x in r)
    return f"{tool} {own:.2f} s + registries {reg:.2f} s (floor {(own + reg) / 2:.2f} s)"
cpu = [f"{names[sc]}: {cpu_of(sc, 'imgpromote')}, {cpu_of(sc, 'skopeo')}"
       for sc in names if (sc, "imgpromote") in rows and (sc, "skopeo") in rows]
if cpu: print("\nCPU (user + system, medians) of the copying process and of both registries during its runs; on the "
              "2 cores they share, (tool + registries) / 2 is the least wall time any schedule of that work could take: "
              + "; ".join(cpu) + ".")
runs = max(len(v) for v in rows.values())
print(f"\n{runs} runs per tool and scenario, tools alternating; median wall time (ratio of the medians; the range pairs each run with the other tool's run next to it); GNU time peak RSS; loopback, docker-registry 2.8.2, skopeo 1.9.3. "
      "skopeo runs with an empty blob-info cache, as in an ephemeral agent pod, except in the warm-cache rows.")
PY
