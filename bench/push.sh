#!/usr/bin/env bash
# Push mode against its peer, in one run on this machine: Debian's vmagent scraping Debian's
# node_exporter every second and pushing to a VictoriaMetrics receiver, and promlet (the static
# x86_64 build of node-server and push, as cross/build.sh makes it) gathering its own node
# collectors every second and pushing to the same receiver. Over D seconds: peak RSS (VmHWM),
# CPU time (the threads' schedstat), samples the receiver stored for each, and CPU per
# stored sample. promlet does the whole job (collect and push), so the peer is node_exporter and
# vmagent together (their CPU and RSS summed); vmagent alone is shown too, and promlet's RSS is
# held to a tenth of it as well. Loopback; bounded.
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
  PROMLET=$(bench_static_build node-server,push push)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_up() { for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
# CPU time in ms, to the nanosecond: the sum of the threads' schedstat (utime+stime from
# /proc/PID/stat counts in clock ticks, 10 ms, too coarse for a few ms a second).
cpu_ms() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.3f\n", s / 1e6 }'; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

VM=$(free_port)
victoria-metrics -httpListenAddr=127.0.0.1:$VM -storageDataPath="$work/vm" -search.latencyOffset=0s \
  -loggerLevel=ERROR >"$work/vm.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$VM/health"

NE=$(free_port)
prometheus-node-exporter --web.listen-address=127.0.0.1:$NE >"$work/ne.log" 2>&1 &
pids+=($!); NEPID=$!
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
# promlet is ready when its landing page answers: a scrape of /metrics would start an HTTP
# worker whose buffers stay (a box that pushes is not scraped).
wait_up "http://127.0.0.1:$PL/"

# Settle, then measure D seconds.
sleep 5
c_va0=$(cpu_ms $VAPID); c_ne0=$(cpu_ms $NEPID); c_pl0=$(cpu_ms $PLPID); t0=$(date +%s)
sleep "$D"
c_va1=$(cpu_ms $VAPID); c_ne1=$(cpu_ms $NEPID); c_pl1=$(cpu_ms $PLPID); t1=$(date +%s)
sleep 3 # let the last pushes land
curl -s -o /dev/null "http://127.0.0.1:$VM/internal/force_flush"
stored() { # job -> samples the receiver stored for it between t0 and t1
  curl -s "http://127.0.0.1:$VM/api/v1/export" --data-urlencode "match[]={job=\"$1\"}" \
    --data-urlencode "start=$t0" --data-urlencode "end=$t1" |
    python3 -c 'import sys, json; print(sum(len(json.loads(l)["values"]) for l in sys.stdin if l.strip()))'
}
s_va=$(stored vmagent-node); s_pl=$(stored promlet-node)
vars=(-v d="$D" -v cva="$(awk -v a="$c_va1" -v b="$c_va0" 'BEGIN{print a-b}')"
  -v cne="$(awk -v a="$c_ne1" -v b="$c_ne0" 'BEGIN{print a-b}')"
  -v cpl="$(awk -v a="$c_pl1" -v b="$c_pl0" 'BEGIN{print a-b}')"
  -v sva="$s_va" -v spl="$s_pl" -v rva="$(hwm_kb $VAPID)" -v rne="$(hwm_kb $NEPID)" -v rpl="$(hwm_kb $PLPID)")
awk "${vars[@]}" 'BEGIN {
  printf "| push (%d s, 1 s interval, one VictoriaMetrics receiver) | promlet | node_exporter + vmagent | ratio | vmagent alone | ratio |\n", d
  printf "|---|---|---|---|---|---|\n"
  printf "| samples stored per push | %.0f | %.0f | | | |\n", spl / d, sva / d
  printf "| peak RSS | %.2f MiB | %.1f MiB | %.3f | %.1f MiB | %.3f |\n", rpl / 1024, (rva + rne) / 1024, rpl / (rva + rne), rva / 1024, rpl / rva
  printf "| CPU per push | %.2f ms | %.2f ms | | %.2f ms | |\n", cpl / d, (cva + cne) / d, cva / d
  printf "| CPU per stored sample | %.2f us | %.2f us | %.2f | %.2f us | %.2f |\n", cpl * 1000 / spl, (cva + cne) * 1000 / sva, (cpl / spl) / ((cva + cne) / sva), cva * 1000 / sva, (cpl / spl) / (cva / sva)
}'
awk "${vars[@]}" 'BEGIN {
  OFS = "\t"
  print "push.samples", sprintf("push: samples stored per push (%d s, 1 s interval, one VictoriaMetrics receiver; peer: node_exporter scraped by vmagent)", d), sprintf("%.0f", spl / d), sprintf("%.0f", sva / d), "", "", ""
  r = rpl / (rva + rne)
  print "push.rss", "push: peak RSS (peer: node_exporter + vmagent)", sprintf("%.2f MiB", rpl / 1024), sprintf("%.1f MiB", (rva + rne) / 1024), sprintf("%.2f", r), "≤ 0.10", (r <= 0.10) ? "ok" : "missed"
  r = rpl / rva
  print "push.rss-vmagent", "push: peak RSS (peer: vmagent alone)", sprintf("%.2f MiB", rpl / 1024), sprintf("%.1f MiB", rva / 1024), sprintf("%.3f", r), "≤ 0.10", (r <= 0.10) ? "ok" : "missed"
  print "push.cpu", "push: CPU per push (peer: node_exporter + vmagent)", sprintf("%.2f ms", cpl / d), sprintf("%.2f ms", (cva + cne) / d), "", "", ""
  r = (cpl / spl) / ((cva + cne) / sva)
  print "push.cpu-sample", "push: CPU per stored sample (peer: node_exporter + vmagent)", sprintf("%.2f µs", cpl * 1000 / spl), sprintf("%.2f µs", (cva + cne) * 1000 / sva), sprintf("%.2f", r), "≤ 0.25", (r <= 0.25) ? "ok" : "missed"
  r = (cpl / spl) / (cva / sva)
  print "push.cpu-sample-vmagent", "push: CPU per stored sample (peer: vmagent alone, its scrapes of node_exporter not counted)", sprintf("%.2f µs", cpl * 1000 / spl), sprintf("%.2f µs", cva * 1000 / sva), sprintf("%.2f", r), "", ""
}' | fig_put "$cmd"
