#!/usr/bin/env bash
# Push mode against its peer, in one run on this machine: Debian's vmagent scraping Debian's
# node_exporter every second and pushing to a VictoriaMetrics receiver, and promlet (node and
# push, release build) gathering its own node collectors every second and pushing to the same
# receiver. For each sender over D seconds: peak RSS (VmHWM), CPU time (utime+stime from
# /proc/PID/stat; vmagent's does not include node_exporter's collecting, promlet's includes its
# own), samples the receiver stored for it, and CPU per stored sample. Loopback only; bounded.
# The figures go into the README's table as the push.* rows (bench/figures.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/figures-lib.sh
D=${D:-60}
cmd="D=$D${PROMLET:+ PROMLET=$PROMLET} bash bench/push.sh"
for t in victoria-metrics vmagent prometheus-node-exporter curl python3; do
  command -v "$t" >/dev/null || { echo "push bench: $t missing (make deps)" >&2; exit 1; }
done
if [ -z "${PROMLET:-}" ]; then
  cargo build --locked --release --no-default-features --features node,push >/dev/null 2>&1 ||
    cargo build --locked --release --no-default-features --features node,push
  PROMLET=target/release/promlet
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_up() { for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

VM=$(free_port)
victoria-metrics -httpListenAddr=127.0.0.1:$VM -storageDataPath="$work/vm" -search.latencyOffset=0s \
  -loggerLevel=ERROR >"$work/vm.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$VM/health"

NE=$(free_port)
prometheus-node-exporter --web.listen-address=127.0.0.1:$NE >"$work/ne.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$NE/metrics"

VA=$(free_port)
cat >"$work/scrape.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: vmagent-node
    static_configs:
      - targets: ['127.0.0.1:$NE']
EOF
vmagent -promscrape.config="$work/scrape.yml" -remoteWrite.url="http://127.0.0.1:$VM/api/v1/write" \
  -remoteWrite.tmpDataPath="$work/vmagent" -httpListenAddr=127.0.0.1:$VA -loggerLevel=ERROR \
  >"$work/vmagent.log" 2>&1 &
pids+=($!); VAPID=$!

PL=$(free_port)
cat >"$work/promlet.json" <<EOF
{"global": {"scrape_interval": "1s"},
 "remote_write": [{"url": "http://127.0.0.1:$VM/api/v1/write", "name": "vm"}],
 "push": {"paths": [{"path": "/metrics", "job": "promlet-node"}]}}
EOF
"$PROMLET" --web.listen-address=127.0.0.1:$PL --config.file="$work/promlet.json" >"$work/promlet.log" 2>&1 &
pids+=($!); PLPID=$!
wait_up "http://127.0.0.1:$VA/metrics"
wait_up "http://127.0.0.1:$PL/metrics"

# Settle, then measure D seconds.
sleep 5
c_va0=$(cpu_ms $VAPID); c_pl0=$(cpu_ms $PLPID); t0=$(date +%s)
sleep "$D"
c_va1=$(cpu_ms $VAPID); c_pl1=$(cpu_ms $PLPID); t1=$(date +%s)
sleep 3 # let the last pushes land
curl -s -o /dev/null "http://127.0.0.1:$VM/internal/force_flush"
stored() { # job -> samples the receiver stored for it between t0 and t1
  curl -s "http://127.0.0.1:$VM/api/v1/export" --data-urlencode "match[]={job=\"$1\"}" \
    --data-urlencode "start=$t0" --data-urlencode "end=$t1" |
    python3 -c 'import sys, json; print(sum(len(json.loads(l)["values"]) for l in sys.stdin if l.strip()))'
}
s_va=$(stored vmagent-node); s_pl=$(stored promlet-node)
vars=(-v d="$D" -v cva="$(awk -v a="$c_va1" -v b="$c_va0" 'BEGIN{print a-b}')"
  -v cpl="$(awk -v a="$c_pl1" -v b="$c_pl0" 'BEGIN{print a-b}')"
  -v sva="$s_va" -v spl="$s_pl" -v rva="$(hwm_kb $VAPID)" -v rpl="$(hwm_kb $PLPID)")
awk "${vars[@]}" 'BEGIN {
  printf "| push (%d s, 1 s interval, one VictoriaMetrics receiver) | promlet | vmagent + node_exporter | ratio | target |\n", d
  printf "|---|---|---|---|---|\n"
  printf "| samples stored per push | %.0f | %.0f | | |\n", spl / d, sva / d
  printf "| peak RSS | %.1f MiB | %.1f MiB | %.2f | <= 0.10 |\n", rpl / 1024, rva / 1024, rpl / rva
  printf "| CPU per push | %.2f ms | %.2f ms | | |\n", cpl / d, cva / d
  printf "| CPU per stored sample | %.2f us | %.2f us | %.2f | <= 0.25 |\n", cpl * 1000 / spl, cva * 1000 / sva, (cpl / spl) / (cva / sva)
}'
awk "${vars[@]}" 'BEGIN {
  OFS = "\t"
  print "push.samples", sprintf("push: samples stored per push (%d s, 1 s interval, one VictoriaMetrics receiver; peer: vmagent scraping node_exporter)", d), sprintf("%.0f", spl / d), sprintf("%.0f", sva / d), "", "", ""
  print "push.rss", "push: peak RSS", sprintf("%.1f MiB", rpl / 1024), sprintf("%.1f MiB", rva / 1024), sprintf("%.2f", rpl / rva), "≤ 0.10", (rpl / rva <= 0.10) ? "ok" : "missed"
  print "push.cpu", "push: CPU per push", sprintf("%.2f ms", cpl / d), sprintf("%.2f ms", cva / d), "", "", ""
  r = (cpl / spl) / (cva / sva)
  print "push.cpu-sample", "push: CPU per stored sample", sprintf("%.2f µs", cpl * 1000 / spl), sprintf("%.2f µs", cva * 1000 / sva), sprintf("%.2f", r), "≤ 0.25", (r <= 0.25) ? "ok" : "missed"
}' | fig_put "$cmd"
