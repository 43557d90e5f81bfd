#!/usr/bin/env bash
# HTTP SD: promlet against prometheus-http-sd (from PyPI, in a throwaway venv) serving the same
# tree of 50 JSON files with 20 targets each, under the same wrk load on loopback, one run each.
# Prints requests/s, latency, peak RSS (VmHWM) and the ratios; the figures go into the README's
# table as the http-sd.* rows (bench/figures.sh).
#   CONNS=16 DURATION=10s PEER_VERSION=3.0.6 bash bench/http-sd.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/figures-lib.sh

CONNS=${CONNS:-16}
DURATION=${DURATION:-10s}
PEER_VERSION=${PEER_VERSION:-3.0.6}
cmd="CONNS=$CONNS DURATION=$DURATION PEER_VERSION=$PEER_VERSION${PROMLET:+ PROMLET=$PROMLET} bash bench/http-sd.sh"
PROMLET=${PROMLET:-target/release/promlet}

command -v wrk >/dev/null || { echo "wrk missing: make deps" >&2; exit 1; }
if [ ! -x "$PROMLET" ]; then cargo build --locked --release >/dev/null; fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The tree: 5 directories x 10 files, one group of 20 targets each (1000 targets, ~20 kB).
python3 - "$work/tree" <<'EOF'
import json, os, sys
root = sys.argv[1]
for d in range(5):
    os.makedirs(f"{root}/dc{d}", exist_ok=True)
    for f in range(10):
        n = d * 10 + f
        group = {"targets": [f"10.{d}.{f}.{t}:9100" for t in range(20)],
                 "labels": {"job": "node", "dc": f"dc{d}", "rack": f"r{n}"}}
        with open(f"{root}/dc{d}/hosts{f}.json", "w") as fh:
            json.dump([group], fh)
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_200() { # url seconds
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
    sleep 0.5
  done
  echo "no 200 from $1 after $2 s" >&2; return 1
}
count_targets() { curl -s "$1" | python3 -c 'import json,sys; print(sum(len(g["targets"]) for g in json.load(sys.stdin)))'; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# Runs wrk against $1 and prints "req/s p50 p99 non2xx".
load() {
  local out
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$1")
  echo "$out" >&2
  local rps p50 p99 bad
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$rps $p50 $p99 ${bad:-0}"
}

echo "== installing prometheus-http-sd $PEER_VERSION into a throwaway venv" >&2
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "prometheus-http-sd==$PEER_VERSION" >&2

# promlet
pport=$(free_port)
"$PROMLET" --web.listen-address="127.0.0.1:$pport" --http-sd.directory="$work/tree" 2>"$work/promlet.log" &
pids+=($!); ppid=$!
wait_200 "http://127.0.0.1:$pport/targets/" 30
p_targets=$(count_targets "http://127.0.0.1:$pport/targets/")
p_rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$ppid/status")
echo "== promlet: $p_targets targets, RSS before $p_rss0 KiB" >&2
read -r p_rps p_p50 p_p99 p_bad < <(load "http://127.0.0.1:$pport/targets/")
p_hwm=$(hwm_kib "$ppid")

# prometheus-http-sd 3.x answers from a cache a background loop fills (first answer "cache
# miss", filled within --cache-refresh-interval, default 60 s); defaults otherwise.
qport=$(free_port)
mkdir -p "$work/cache"
"$work/venv/bin/prometheus-http-sd" serve -h 127.0.0.1 -p "$qport" --cache-dir "$work/cache" "$work/tree" \
  >"$work/peer.log" 2>&1 &
pids+=($!); qpid=$!
echo "== prometheus-http-sd: waiting for its cache to fill (up to 70 s)" >&2
wait_200 "http://127.0.0.1:$qport/targets/" 70
q_targets=$(count_targets "http://127.0.0.1:$qport/targets/")
q_rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$qpid/status")
echo "== prometheus-http-sd: $q_targets targets, RSS before $q_rss0 KiB" >&2
read -r q_rps q_p50 q_p99 q_bad < <(load "http://127.0.0.1:$qport/targets/")
q_hwm=$(hwm_kib "$qpid")

[ "$p_targets" = "$q_targets" ] || { echo "different answers: $p_targets vs $q_targets targets" >&2; exit 1; }

printf '\nHTTP SD, GET /targets/ (50 files x 20 targets), wrk -t1 -c%s -d%s on 127.0.0.1\n' "$CONNS" "$DURATION"
printf '%-28s %12s %10s %10s %10s %14s\n' server req/s p50 p99 non-2xx "peak RSS KiB"
printf '%-28s %12s %10s %10s %10s %14s\n' promlet "$p_rps" "$p_p50" "$p_p99" "$p_bad" "$p_hwm"
printf '%-28s %12s %10s %10s %10s %14s\n' "prometheus-http-sd $PEER_VERSION" "$q_rps" "$q_p50" "$q_p99" "$q_bad" "$q_hwm"
python3 - "$p_rps" "$q_rps" "$p_hwm" "$q_hwm" <<'EOF'
import sys
p, q, pm, qm = map(float, sys.argv[1:])
print(f"ratio: promlet serves {p / q:.1f}x the requests/s with {pm / qm:.2f}x the memory"
      f" (targets: >= 10x, RSS <= 8 MiB: {'met' if p >= 10 * q and pm <= 8192 else 'NOT met'})")
EOF
wrk_ms() { # wrk's 780.00us, 13.00ms, 1.20s -> milliseconds
  awk -v v="$1" 'BEGIN { u = v; sub(/^[0-9.]+/, "", u); n = v + 0; if (u == "us") n /= 1000; else if (u == "s") n *= 1000
    printf "%.2f ms\n", n }'
}
{
  fig_row http-sd.rps "HTTP SD: requests/s, 50 files × 20 targets, wrk -t1 -c$CONNS -d$DURATION (peer: prometheus-http-sd $PEER_VERSION, warm cache)" \
    "$(fig_int "$p_rps")" "$(fig_int "$q_rps")" "$(awk -v a="$p_rps" -v b="$q_rps" 'BEGIN { printf "%.1f×", a / b }')" "≥ 10×" \
    "$(fig_le 10 "$(fig_ratio "$p_rps" "$q_rps")")"
  fig_row http-sd.latency "HTTP SD: latency p50 / p99 under that load" \
    "$(wrk_ms "$p_p50") / $(wrk_ms "$p_p99")" "$(wrk_ms "$q_p50") / $(wrk_ms "$q_p99")" "" "" ""
  fig_row http-sd.rss "HTTP SD: peak RSS under that load" \
    "$(fig_mib "$p_hwm")" "$(fig_mib "$q_hwm")" "$(fig_ratio "$p_hwm" "$q_hwm")" "promlet ≤ 8 MiB" "$(fig_le "$p_hwm" 8192)"
} | fig_put "$cmd"
