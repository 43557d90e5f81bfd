#!/usr/bin/env bash
# promlet's whole default collector set against node_exporter's whole default set (Debian's
# 1.5.0 without its systemd collector, which upstream has off by default and promlet lacks), on
# this machine, on loopback. One run: median scrape latency over N sequential scrapes (one curl
# process, so process start does not count), CPU time the exporter spent on those N scrapes
# (utime+stime from /proc/PID/stat), and RSS after them (VmRSS). Prints a table with
# promlet/node_exporter ratios, then how many Node Exporter Full panels each one serves
# (bench/panels.sh). Bounded: N scrapes each (default 1,000). The figures go into the README's
# table as the node.* rows (bench/figures.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/figures-lib.sh
N=${N:-1000}
ROUNDS=${ROUNDS:-4}
cmd="N=$N ROUNDS=$ROUNDS${PROMLET:+ PROMLET=$PROMLET} bash bench/node.sh"

# What users deploy: the node-only static musl build, as `make size` builds it
# (cross/build.sh). PROMLET=path measures another binary.
if [ -z "${PROMLET:-}" ]; then
  PROMLET=$(bench_static_build node-server node)
fi
NE=$(command -v prometheus-node-exporter || command -v node_exporter || true)
[ -n "$NE" ] || { echo "node_exporter not found: apt-get install prometheus-node-exporter" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_up() { for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

P1=$(free_port)
"$PROMLET" --web.listen-address=127.0.0.1:$P1 --web.disable-exporter-metrics 2>"$work/promlet.log" &
pids+=($!); PID1=$!
P2=$(free_port)
ne_flags=(--no-collector.systemd --web.disable-exporter-metrics --web.listen-address=127.0.0.1:$P2)
"$NE" "${ne_flags[@]}" 2>"$work/ne.log" &
pids+=($!); PID2=$!

U1="http://127.0.0.1:$P1/metrics"
U2="http://127.0.0.1:$P2/metrics"
wait_up "$U1"; wait_up "$U2"

cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# The machine may be shared: the two exporters take turns in ROUNDS chunks so that load drift
# hits both alike. Medians are over all N scrapes, CPU is summed over them.
chunk() { # url pid name: one chunk of N/ROUNDS scrapes; appends times, adds CPU ms
  local url=$1 pid=$2 name=$3
  local c0 c1
  c0=$(cpu_ms "$pid")
  curl -s -w '%{time_total}\n' --config "$work/chunk-$name.curl" >>"$work/$name.times"
  c1=$(cpu_ms "$pid")
  awk -v a="$c1" -v b="$c0" 'BEGIN { print a - b }' >>"$work/$name.cpu"
}
prepare() { # url name
  : >"$work/chunk-$2.curl"
  for _ in $(seq $((N / ROUNDS))); do printf 'url = "%s"\noutput = "/dev/null"\n' "$1" >>"$work/chunk-$2.curl"; done
  : >"$work/$2.times"; : >"$work/$2.cpu"
  for _ in $(seq 20); do curl -s -o /dev/null "$1"; done # warm up
}
summary() { # pid name url -> "median_ms cpu_ms rss_kb bytes"
  local med cpu
  med=$(sort -n "$work/$2.times" | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f", m * 1000 }')
  cpu=$(awk '{ s += $1 } END { print s }' "$work/$2.cpu")
  echo "$med $cpu $(rss_kb "$1") $(curl -s "$3" | wc -c)"
}

prepare "$U1" promlet
prepare "$U2" node_exporter
for _ in $(seq "$ROUNDS"); do
  chunk "$U1" "$PID1" promlet
  chunk "$U2" "$PID2" node_exporter
done
read -r l1 c1 r1 b1 < <(summary "$PID1" promlet "$U1")
read -r l2 c2 r2 b2 < <(summary "$PID2" node_exporter "$U2")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

count() { curl -s "$1" | grep -c "^$2" || true; }
echo "whole default collector sets: promlet $(count "$U1" 'node_scrape_collector_success{') collectors, node_exporter $(count "$U2" 'node_scrape_collector_success{'); $N sequential scrapes each in $ROUNDS alternating rounds, loopback, $(nproc) CPUs"
echo "promlet: $PROMLET; node_exporter: $NE"
printf '%-34s %14s %16s %10s   %s\n' "metric" "promlet" "node_exporter" "ratio" "target"
printf '%-34s %14s %16s %10s   %s\n' "scrape latency, median (ms)" "$l1" "$l2" "$(ratio "$l1" "$l2")" "<= 0.25"
printf '%-34s %14s %16s %10s   %s\n' "CPU time per $N scrapes (ms)" "$c1" "$c2" "$(ratio "$c1" "$c2")" "<= 0.25"
printf '%-34s %14s %16s %10s   %s\n' "RSS after $N scrapes (KiB)" "$r1" "$r2" "$(ratio "$r1" "$r2")" "promlet <= 3072"
printf '%-34s %14s %16s %10s\n' "body (bytes)" "$b1" "$b2" "$(ratio "$b1" "$b2")"
printf '%-34s %14s %16s %10s\n' "binary (bytes)" "$(stat -c %s "$PROMLET")" "$(stat -c %s "$NE")" "$(ratio "$(stat -c %s "$PROMLET")" "$(stat -c %s "$NE")")"
printf '%-34s %14s %16s\n' "node_* series" "$(count "$U1" node_)" "$(count "$U2" node_)"

# Dashboard coverage, with each exporter's default flags (its own process_* metrics included, as
# deployed): on this machine, then on the server fixture tree (tests/fixtures/server), which
# has the hardware this machine lacks.
start_pair() { # extra flags for both...: sets PU1 PU2 (their /metrics URLs)
  local a b
  a=$(free_port); b=$(free_port)
  "$PROMLET" --web.listen-address=127.0.0.1:$a "$@" 2>>"$work/promlet.log" &
  pids+=($!)
  "$NE" --no-collector.systemd --web.listen-address=127.0.0.1:$b "$@" 2>>"$work/ne.log" &
  pids+=($!)
  PU1="http://127.0.0.1:$a/metrics"; PU2="http://127.0.0.1:$b/metrics"
  wait_up "$PU1"; wait_up "$PU2"
}
served() { sed -n "s/^Node Exporter Full panels served by $1: \([0-9]*\) of \([0-9]*\)$/\\$2/p" <<<"$3"; }
echo
echo "this machine:"
start_pair
here=$(bash bench/panels.sh promlet="$PU1" node_exporter="$PU2")
echo "$here"
F=tests/fixtures/server
echo "server fixture tree ($F):"
start_pair --path.procfs=$F/proc --path.sysfs=$F/sys --path.rootfs=$F/rootfs
fixture=$(bash bench/panels.sh promlet="$PU1" node_exporter="$PU2")
echo "$fixture"

# The rows of the README's figures table.
build=$PROMLET
[ "$PROMLET" = target/bench/promlet-node ] && build="node-only static build"
nev=$("$NE" --version 2>&1 | sed -n '1s/.*version \([0-9.]*\).*/\1/p')
total=$(served promlet 2 "$here")
{
  fig_row node.latency "node: scrape latency, median of $N (whole default sets: promlet's $(count "$U1" 'node_scrape_collector_success{') collectors, $build; peer: node_exporter $nev)" \
    "$(fig_ms "$l1")" "$(fig_ms "$l2")" "$(fig_ratio "$l1" "$l2")" "≤ 0.25" "$(fig_le "$(fig_ratio "$l1" "$l2")" 0.25)"
  fig_row node.cpu "node: CPU time over those $N scrapes" \
    "$(fig_ms "$c1")" "$(fig_ms "$c2")" "$(fig_ratio "$c1" "$c2")" "≤ 0.25" "$(fig_le "$(fig_ratio "$c1" "$c2")" 0.25)"
  fig_row node.rss "node: RSS after those $N scrapes" \
    "$(fig_mib "$r1")" "$(fig_mib "$r2")" "$(fig_ratio "$r1" "$r2")" "promlet ≤ 3 MiB" "$(fig_le "$r1" 3072)"
  fig_row node.panels "node: Node Exporter Full panels served (of $total), this machine" \
    "$(served promlet 1 "$here")" "$(served node_exporter 1 "$here")" "" "" ""
  fig_row node.panels-fixture "node: Node Exporter Full panels served (of $total), server fixture tree" \
    "$(served promlet 1 "$fixture")" "$(served node_exporter 1 "$fixture")" "" "" ""
} | fig_put "$cmd"
