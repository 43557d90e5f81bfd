#!/usr/bin/env bash
# `make bench` part for Packet SD: one refresh of 10,000 devices (4 projects, pages of 100)
# from a fake API (bench/packet-sd-fake-api.py), by a release `promlet packet-sd`, over plain
# HTTP and over HTTPS (a throwaway CA made with openssl, passed with --packet.ca-file).
# Reports peak RSS (VmHWM), the refresh time, the output size, and how the output file was
# replaced: a watcher stats it every millisecond during the refresh and lists every
# (inode, size) it saw; one rename means exactly two states, the old file and the new one at
# its full size, and nothing in between.
# The peer (the Go prometheus-packet-sd) is not packaged anywhere we can install from, so
# there is no ratio column. The figures go into the README's table as the packet-sd.* rows
# (bench/figures.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/figures-lib.sh
DEVICES=${DEVICES:-10000}
cmd="DEVICES=$DEVICES${PROMLET:+ PROMLET=$PROMLET} bash bench/packet-sd.sh"
BIN=${PROMLET:-target/release/promlet}
[ -x "$BIN" ] || cargo build --locked --release >/dev/null
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# A CA and a server certificate for 127.0.0.1, for the HTTPS run.
(
  cd "$work"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=bench CA" -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.pem 2>/dev/null
)

# run SCHEME: one refresh; sets hwm rss wall calls targets skipped size states verdict.
run() {
  local scheme=$1 d="$work/$1"
  mkdir -p "$d/sd"
  local tls_args=() api_args=()
  if [ "$scheme" = https ]; then
    api_args=("$work/server.pem" "$work/server.key")
    tls_args=(--packet.ca-file="$work/ca.pem")
  fi
  python3 bench/packet-sd-fake-api.py "$d/api.port" "$DEVICES" 4 "${api_args[@]}" 2>"$d/api.log" &
  local api_pid=$!
  pids+=($api_pid)
  for _ in $(seq 100); do [ -s "$d/api.port" ] && break; sleep 0.05; done
  local out="$d/sd/packet.json"
  printf '[]\n' >"$out" # the "last good file" the refresh replaces

  python3 - "$out" "$d/watch.stop" >"$d/watch.txt" <<'EOF' &
import os, sys, time
path, stop = sys.argv[1], sys.argv[2]
seen, order = set(), []
while not os.path.exists(stop):
    try:
        st = os.stat(path)
        s = (st.st_ino, st.st_size)
    except FileNotFoundError:
        s = ("missing", 0)
    if s not in seen:
        seen.add(s)
        order.append(s)
    time.sleep(0.001)
for s in order:
    print(*s)
EOF
  local watch_pid=$!
  pids+=($watch_pid)

  local mport
  mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local start end metrics=""
  start=$(date +%s.%N)
  "$BIN" packet-sd --packet.api-url="$scheme://127.0.0.1:$(cat "$d/api.port")/metal/v1" \
    --packet.authtoken=bench "${tls_args[@]}" --output.file="$out" \
    --web.listen-address="127.0.0.1:$mport" --target.refresh=1h 2>"$d/promlet.log" &
  local ppid=$!
  pids+=($ppid)
  for _ in $(seq 1200); do
    metrics=$(curl -sf "http://127.0.0.1:$mport/metrics" || true)
    grep -q '^prometheus_packet_sd_last_success_timestamp_seconds' <<<"$metrics" && break
    sleep 0.05
  done
  end=$(date +%s.%N)
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$ppid/status")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$ppid/status")
  kill "$ppid" "$api_pid"
  sleep 0.2
  touch "$d/watch.stop"
  wait "$watch_pid" || true

  wall=$(python3 -c "print(f'{$end - $start:.2f}')")
  targets=$(awk '/^prometheus_packet_sd_targets / {print $2}' <<<"$metrics")
  skipped=$(awk '/^prometheus_packet_sd_skipped_devices / {print $2}' <<<"$metrics")
  calls=$(awk '/^prometheus_packet_sd_request_duration_seconds_sum / {printf "%.2f", $2}' <<<"$metrics")
  local groups
  groups=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$out")
  size=$(stat -c %s "$out")
  states=$(wc -l <"$d/watch.txt")
  if [ "$groups" != "$targets" ]; then
    echo "$scheme: output has $groups groups, metrics say $targets"
    cat "$d/promlet.log"
    exit 1
  fi
  if [ "$states" = 2 ] && [ "$(tail -1 "$d/watch.txt" | cut -d' ' -f2)" = "$size" ]; then
    verdict="yes (2 states: old inode, new inode at full size)"
  else
    verdict="NO: $(tr '\n' ';' <"$d/watch.txt")"
  fi
}

run http
h_hwm=$hwm h_rss=$rss h_wall=$wall h_calls=$calls h_verdict=$verdict
run https
pages=$(((DEVICES / 4 + 99) / 100 * 4))
mib() { python3 -c "print(f'{$1/1024:.1f} MiB')"; }
row() { printf '%-40s %-22s %s\n' "$1" "$2" "$3"; }
row "$DEVICES devices, 4 projects, $pages pages" "http" "https (test CA)"
row "peak RSS (VmHWM), target <= 16 MiB" "$(mib "$h_hwm")" "$(mib "$hwm")"
row "RSS after the refresh (VmRSS)" "$(mib "$h_rss")" "$(mib "$rss")"
row "refresh, start to file (wall)" "$h_wall s" "$wall s"
row "API list calls (histogram sum)" "$h_calls s" "$calls s"
row "targets written / devices skipped" "$targets / $skipped" "$targets / $skipped"
row "output file" "$size bytes" "$size bytes"
echo "file replaced in one rename: http: $h_verdict; https: $verdict"
renamed() { [[ $1 == yes* ]] && [[ $2 == yes* ]] && echo yes || echo no; }
{
  fig_row packet-sd.rss-http "Packet SD: peak RSS refreshing $(fig_int "$DEVICES") devices over $pages pages, http" \
    "$(mib "$h_hwm")" "" "" "≤ 16 MiB" "$(fig_le "$h_hwm" 16384)"
  fig_row packet-sd.rss-https "Packet SD: peak RSS refreshing $(fig_int "$DEVICES") devices over $pages pages, https" \
    "$(mib "$hwm")" "" "" "≤ 16 MiB" "$(fig_le "$hwm" 16384)"
  fig_row packet-sd.refresh "Packet SD: that refresh, start to file (mostly the Python fake API), http / https" \
    "$h_wall s / $wall s" "" "" "" ""
  fig_row packet-sd.rename "Packet SD: output ($(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1e6 }')) replaced in one rename (a watcher saw only the old and the complete new file)" \
    "$(renamed "$h_verdict" "$verdict")" "" "" "yes" "$([ "$(renamed "$h_verdict" "$verdict")" = yes ] && echo ok || echo missed)"
} | fig_put "$cmd"
fail=0
for v in "$h_verdict" "$verdict"; do [[ $v == yes* ]] || fail=1; done
for k in "$h_hwm" "$hwm"; do [ "$k" -le $((16 * 1024)) ] || fail=1; done
exit $fail
