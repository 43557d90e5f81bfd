#!/usr/bin/env bash
# HDHomeRun exporter bench (make bench): promlet's /hdhomerun against fake devices on loopback
# (bench/fake_hdhomerun.py, independent of promlet).
#  1. full scrape of a 4-tuner device: median and p90 latency over 500 scrapes (target <= 2 ms);
#  2. 20 devices answering every request after DELAY ms: 20 scrapes one after another vs all 20
#     at once (they should overlap: concurrent wall time close to one scrape, not twenty).
# The peer, mdlayher/hdhomerun_exporter, needs Go, which is not installed: no peer column.
# The figures go into the README's table as the hdhomerun.* rows (bench/figures.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/figures-lib.sh
BIN=${PROMLET:-target/release/promlet}
[ -x "$BIN" ] || cargo build --locked --release >/dev/null
DELAY=${DELAY:-20}
cmd="DELAY=$DELAY${PROMLET:+ PROMLET=$PROMLET} bash bench/hdhomerun.sh"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_fake() { # out-file args...
  local out=$1; shift
  python3 bench/fake_hdhomerun.py "$@" >"$out" &
  pids+=($!)
  for _ in $(seq 100); do grep -q '^ports:' "$out" 2>/dev/null && return; sleep 0.05; done
  echo "fake device did not start" >&2; exit 1
}
tmp=$(mktemp -d)
start_fake "$tmp/one" --devices 1 --tuners 4
start_fake "$tmp/many" --devices 20 --tuners 4 --delay "$DELAY"
one=$(sed 's/^ports: //' "$tmp/one")
many=$(sed 's/^ports: //' "$tmp/many")

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" --web.listen-address=127.0.0.1:$port --web.disable-exporter-metrics --hdhomerun.allowed-targets=127.0.0.1/32 2>"$tmp/promlet.log" &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done

read -r med p90 < <(python3 bench/hdhomerun_client.py latency 127.0.0.1:$port "$one" 500)
read -r seq conc < <(python3 bench/hdhomerun_client.py parallel 127.0.0.1:$port "$DELAY" $many)
ok_lat=$(python3 -c "print('ok' if $med <= 2.0 else 'MISSED')")
speedup=$(python3 -c "print('%.1f' % ($seq / $conc))")
ok_par=$(python3 -c "print('ok' if $seq / $conc >= 5 else 'MISSED')")
printf '%-52s %12s %10s %s\n' "measure" "promlet" "target" ""
printf '%-52s %9s ms %7s ms %s\n' "full scrape, 4-tuner device, median (500 scrapes)" "$med" "2" "$ok_lat"
printf '%-52s %9s ms %10s\n' "full scrape, 4-tuner device, p90" "$p90" "-"
printf '%-52s %10s s %10s\n' "20 devices (${DELAY} ms/reply), sequential wall time" "$seq" "-"
printf '%-52s %10s s %10s\n' "20 devices (${DELAY} ms/reply), concurrent wall time" "$conc" "-"
printf '%-52s %11sx %9sx %s\n' "concurrency speed-up (sequential / concurrent)" "$speedup" ">=5" "$ok_par"
rm -rf "$tmp"
{
  fig_row hdhomerun.scrape "HDHomeRun: full scrape of a 4-tuner fake device (9 round trips), median of 500" \
    "$(fig_ms "$med") (p90 $(fig_ms "$p90"))" "" "" "≤ 2 ms" "$(fig_le "$med" 2)"
  fig_row hdhomerun.parallel "HDHomeRun: 20 fake devices answering after $DELAY ms: 20 scrapes at once / one after another" \
    "$(printf '%.2f s / %.2f s' "$conc" "$seq")" "" "$speedup×" "≥ 5×" "$(fig_le 5 "$speedup")"
} | fig_put "$cmd"
