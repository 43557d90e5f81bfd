#!/usr/bin/env bash
# Merging proxy bench (make bench), everything on 127.0.0.1 in one run:
#  1. merge: two node_exporters + a 10,000-series synthetic upstream (a file served by Python's
#     http.server) behind one promlet path. Per round the three upstreams are fetched in
#     parallel directly (the slowest one is the floor), then through promlet; "added latency"
#     is median(promlet) - median(slowest upstream). Peak RSS is promlet's VmHWM at the end.
#  2. proxying one node_exporter: promlet vs exporter_exporter (Debian's), each minus the
#     direct fetch, side by side.
# Targets (issue 6): added latency <= 5 ms median, peak RSS <= 16 MiB, overhead below
# exporter_exporter's. The figures go into the README's table as the proxy.* rows
# (bench/figures.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/figures-lib.sh
BIN=${PROMLET:-target/release/promlet}
[ -x "$BIN" ] || cargo build --locked --release >/dev/null
ROUNDS=${ROUNDS:-100}
cmd="ROUNDS=$ROUNDS${PROMLET:+ PROMLET=$PROMLET} bash bench/proxy.sh"
pids=()
tmp=$(mktemp -d)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

n1=$(freeport); n2=$(freeport); syn=$(freeport); ee=$(freeport); pl=$(freeport)
prometheus-node-exporter --web.listen-address=127.0.0.1:$n1 2>/dev/null & pids+=($!)
prometheus-node-exporter --web.listen-address=127.0.0.1:$n2 2>/dev/null & pids+=($!)

mkdir -p "$tmp/www"
python3 - "$tmp/www/metrics" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    for fam in range(100):
        f.write(f"# HELP synth_metric_{fam} Synthetic family {fam}.\n# TYPE synth_metric_{fam} gauge\n")
        for i in range(100):
            f.write(f'synth_metric_{fam}{{instance_id="i-{i:05d}",zone="z{i % 7}"}} {fam * 100 + i}.5\n')
EOF
(cd "$tmp/www" && exec python3 -m http.server --bind 127.0.0.1 $syn >/dev/null 2>&1) & pids+=($!)

cat >"$tmp/ee.yml" <<EOF
modules:
  node:
    method: http
    http:
      port: $n1
      address: 127.0.0.1
EOF
prometheus-exporter-exporter -web.listen-address=127.0.0.1:$ee -config.file="$tmp/ee.yml" 2>/dev/null & pids+=($!)

cat >"$tmp/promlet.yml" <<EOF
proxy:
  - path: /merged
    exporters:
      - name: node1
        http: http://127.0.0.1:$n1/metrics
      - name: node2
        http: http://127.0.0.1:$n2/metrics
      - name: synthetic
        http: http://127.0.0.1:$syn/metrics
  - path: /one
    exporters:
      - name: node
        http: http://127.0.0.1:$n1/metrics
EOF
"$BIN" --web.listen-address=127.0.0.1:$pl --config.file="$tmp/promlet.yml" \
  --web.disable-exporter-metrics 2>"$tmp/promlet.log" & ppid=$!; pids+=($ppid)
for p in $n1 $n2 $syn $ee $pl; do waitport $p; done

python3 - "$ROUNDS" "$n1" "$n2" "$syn" "$ee" "$pl" "$ppid" "$tmp/rows" <<'EOF'
import sys, time, statistics, threading, http.client
rounds, n1, n2, syn, ee, pl, ppid, rows = int(sys.argv[1]), *sys.argv[2:7], sys.argv[7], sys.argv[8]

def get(port, path):
    t = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    c.request("GET", path, headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"})
    r = c.getresponse(); body = r.read(); c.close()
    assert r.status == 200, (port, path, r.status)
    return time.perf_counter() - t, body

def parallel(targets):
    out = [None] * len(targets)
    def run(i, t): out[i] = get(*t)[0]
    ts = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    [t.start() for t in ts]; [t.join() for t in ts]
    return max(out)

ups = [(n1, "/metrics"), (n2, "/metrics"), (syn, "/metrics")]
for _ in range(5):  # warm up every path once
    parallel(ups); get(pl, "/merged"); get(pl, "/one"); get(ee, "/proxy?module=node")
slowest, merged = [], []
for _ in range(rounds):
    slowest.append(parallel(ups))
    merged.append(get(pl, "/merged")[0])
_, body = get(pl, "/merged")
series_out = sum(1 for l in body.decode().splitlines() if l and not l.startswith("#") and not l.startswith("promlet_"))
series_in = sum(sum(1 for l in get(*u)[1].decode().splitlines() if l and not l.startswith("#")) for u in ups)
direct, via_p, via_e = [], [], []
for _ in range(rounds):
    direct.append(get(n1, "/metrics")[0])
    via_p.append(get(pl, "/one")[0])
    via_e.append(get(ee, "/proxy?module=node")[0])
hwm = 0
for l in open(f"/proc/{ppid}/status"):
    if l.startswith("VmHWM:"):
        hwm = int(l.split()[1])
ms = lambda xs: statistics.median(xs) * 1000
added = ms(merged) - ms(slowest)
ov_p = ms(via_p) - ms(direct)
ov_e = ms(via_e) - ms(direct)
ok = lambda c: "ok" if c else "MISSED"
print(f"{'measure':58} {'promlet':>12} {'exporter_exporter':>18} {'target':>10}")
print(f"{'merge 2x node_exporter + 10k synthetic, median':58} {ms(merged):9.2f} ms {'-':>18} {'-':>10}")
print(f"{'slowest upstream fetched directly, median':58} {ms(slowest):9.2f} ms {'-':>18} {'-':>10}")
print(f"{'added latency over the slowest upstream, median':58} {added:9.2f} ms {'-':>18} {'<= 5 ms':>10} {ok(added <= 5)}")
print(f"{'series out / series in':58} {series_out:>6}/{series_in:<5} {'-':>18} {'equal':>10} {ok(series_out == series_in)}")
print(f"{'peak RSS (VmHWM)':58} {hwm/1024:8.1f} MiB {'-':>18} {'<= 16 MiB':>10} {ok(hwm <= 16 * 1024)}")
print(f"{'node_exporter direct, median':58} {ms(direct):9.2f} ms {ms(direct):15.2f} ms {'-':>10}")
print(f"{'proxying one node_exporter, median':58} {ms(via_p):9.2f} ms {ms(via_e):15.2f} ms {'-':>10}")
print(f"{'proxying overhead (minus direct), median':58} {ov_p:9.2f} ms {ov_e:15.2f} ms {'< peer':>10} {ok(ov_p < ov_e)}")
if ov_e > 0:
    print(f"{'overhead ratio promlet / exporter_exporter':58} {ov_p / ov_e:11.2f}x")
ratio = f"{ov_p / ov_e:.2f}" if ov_e > 0 else "n/a"
with open(rows, "w") as f:
    for r in [
        ("proxy.added", "proxy: added latency merging 2 node_exporters + 10,000 series, over the slowest upstream fetched directly, median",
         f"{added:.2f} ms", "", "", "≤ 5 ms", "ok" if added <= 5 else "missed"),
        ("proxy.series", "proxy: series out / series in of that merge", f"{series_out} / {series_in}", "", "", "equal",
         "ok" if series_out == series_in else "missed"),
        ("proxy.rss", "proxy: peak RSS", f"{hwm / 1024:.1f} MiB", "", "", "≤ 16 MiB", "ok" if hwm <= 16 * 1024 else "missed"),
        ("proxy.overhead", "proxy: proxying one node_exporter, median minus the direct fetch (peer: exporter_exporter)",
         f"{ov_p:.2f} ms", f"{ov_e:.2f} ms", ratio, "< 1", "ok" if ov_p < ov_e else "missed"),
    ]:
        print("\t".join(r), file=f)
EOF
fig_put "$cmd" <"$tmp/rows"
