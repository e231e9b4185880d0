# Shared by the benches (sourced, not run): a work directory removed on exit, loopback docker-registry
# instances with access logs, the +N ms delaying proxy, and the imgpromote binary as shipped.
# Everything started here is stopped by the EXIT trap; all traffic stays on 127.0.0.1.
#
#   source "$(dirname "$0")/lib.sh"
#   bench_init NAME TOOL...      # WORK=/tmp/imgpromote-NAME.XXXXXX, the trap, the tools checked
#   bench_binary                 # BIN: $IMGPROMOTE_BIN, else a release build (--static-swift-stdlib)
#   start_registry src; start_proxy src20 src 20

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PIDS=()
declare -A PORT PID

bench_cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "${WORK:?}"
}

bench_init() {   # bench_init NAME TOOL...
    WORK=$(mktemp -d "/tmp/imgpromote-$1.XXXXXX"); shift
    trap bench_cleanup EXIT INT TERM
    local tool
    for tool in docker-registry python3 curl cc "$@"; do
        command -v "$tool" >/dev/null || { echo "bench: $tool is missing (run .ci/install-deps.sh)" >&2; exit 2; }
    done
}

bench_binary() {
    BIN=${IMGPROMOTE_BIN:-}
    [ -n "$BIN" ] && return
    # The binary as shipped (agent-image/build-binary.sh): Swift runtime linked in, no dynamic loading of it.
    echo "bench: building release (--static-swift-stdlib, as shipped)" >&2
    (cd "$ROOT" && swift build -c release --static-swift-stdlib --product imgpromote >/dev/null)
    BIN=$(cd "$ROOT" && swift build -c release --static-swift-stdlib --product imgpromote --show-bin-path)/imgpromote
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_registry() {   # start_registry NAME: fresh storage; a restarted NAME keeps its port
    local name=$1 port=${PORT[$1]:-$(free_port)}
    rm -rf "${WORK:?}/$name"; mkdir -p "$WORK/$name"
    cat > "$WORK/$name.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $WORK/$name}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
EOF
    docker-registry serve "$WORK/$name.yml" >"$WORK/$name.log" 2>&1 &
    PID[$name]=$!; PIDS+=($!); PORT[$name]=$port
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && return; sleep 0.05; done
    echo "bench: registry $name did not start" >&2; exit 1
}
stop_registry() { kill "${PID[$1]}" 2>/dev/null || true; wait "${PID[$1]}" 2>/dev/null || true; }
reset_registry() { stop_registry "$1"; start_registry "$1"; }

# Requests a registry received so far, from its access log; and of those, blob upload requests.
requests() { grep -acE '^[0-9.]+ - - \[' "$WORK/$1.log" || true; }
upload_requests() { grep -aE '^[0-9.]+ - - \[' "$WORK/$1.log" | grep -acE '"(PUT|PATCH) /v2/[^ ]*/blobs/uploads/' || true; }

# CPU time (user + system, ms) the given processes have used so far, from /proc: the registries'.
process_cpu_ms() {
    local ticks=0 pid stat
    for pid in "$@"; do
        # After the ")" that ends the command name: state is field 0, utime 11, stime 12.
        read -ra stat <<< "$(cut -d')' -f2- "/proc/$pid/stat")"
        ticks=$(( ticks + stat[11] + stat[12] ))
    done
    echo $(( ticks * 1000 / $(getconf CLK_TCK) ))
}
# CPU time (ms) of the shell's finished children, from a file bash's `times` wrote (its second line).
# `times >FILE` in the measuring shell itself: in a command substitution it would see a fresh subshell.
children_cpu_ms() {
    python3 -c 'import re,sys; print(round(sum(int(m)*60000+float(s)*1000 for m,s in re.findall(r"(\d+)m([\d.]+)s", open(sys.argv[1]).read().splitlines()[1]))))' "$1"
}

# The delaying proxy is C so that it takes next to no CPU from the 2 cores the tools are measured on
# (see the comment at the top of latency-proxy.c).
start_proxy() {   # start_proxy NAME TARGET_NAME DELAY_MS
    [ -x "$WORK/latency-proxy" ] || cc -O2 -pthread -o "$WORK/latency-proxy" "$ROOT/bench/latency-proxy.c"
    local port; port=$(free_port)
    "$WORK/latency-proxy" "$port" "${PORT[$2]}" "$3" &
    PIDS+=($!); PORT[$1]=$port
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && return; sleep 0.05; done
    echo "bench: proxy $1 did not start" >&2; exit 1
}
