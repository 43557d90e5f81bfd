#!/usr/bin/env bash
# `make bench` part for Packet SD: one refresh of 10,000 devices (4 projects, pages of 100)
# from a fake API (bench/packet-sd-fake-api.py), by a release `promlet packet-sd`.
# Reports peak RSS (VmHWM), the refresh time, the output size, and how the output file was
# replaced: a watcher stats it every millisecond during the refresh and lists every
# (inode, size) it saw; one rename means exactly two states, the old file and the new one,
# and no other size in between.
# The peer (the Go prometheus-packet-sd) is not packaged anywhere we can install from, so
# there is no ratio column; its reference figures are in the README.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-10000}
BIN=${PROMLET:-target/release/promlet}
[ -x "$BIN" ] || cargo build --locked --release >/dev/null
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

python3 bench/packet-sd-fake-api.py "$work/api.port" "$DEVICES" 4 2>"$work/api.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/api.port" ] && break; sleep 0.05; done
api_port=$(cat "$work/api.port")
out="$work/sd/packet.json"
mkdir -p "$work/sd"
printf '[]\n' >"$out" # the "last good file" the refresh replaces

# The watcher: distinct (inode, size) states of the output, until told to stop.
python3 - "$out" "$work/watch.stop" >"$work/watch.txt" <<'EOF' &
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
watch_pid=$!
pids+=($watch_pid)

metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start=$(date +%s.%N)
"$BIN" packet-sd --packet.api-url="http://127.0.0.1:$api_port/metal/v1" --packet.authtoken=bench \
  --output.file="$out" --web.listen-address="127.0.0.1:$metrics_port" --target.refresh=1h \
  2>"$work/promlet.log" &
ppid=$!
pids+=($ppid)
metrics=""
for _ in $(seq 1200); do
  metrics=$(curl -sf "http://127.0.0.1:$metrics_port/metrics" || true)
  grep -q '^prometheus_packet_sd_last_success_timestamp_seconds' <<<"$metrics" && break
  sleep 0.05
done
end=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$ppid/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$ppid/status")
kill "$ppid"
sleep 0.2
touch "$work/watch.stop"
wait "$watch_pid" || true

targets=$(awk '/^prometheus_packet_sd_targets / {print $2}' <<<"$metrics")
skipped=$(awk '/^prometheus_packet_sd_skipped_devices / {print $2}' <<<"$metrics")
calls_sum=$(awk '/^prometheus_packet_sd_request_duration_seconds_sum / {print $2}' <<<"$metrics")
groups=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$out")
size=$(stat -c %s "$out")
states=$(wc -l <"$work/watch.txt")
pages=$(( (DEVICES / 4 + 99) / 100 * 4 ))
[ "$groups" = "$targets" ] || { echo "output has $groups groups, metrics say $targets"; exit 1; }

printf '%-44s %s\n' "measure ($DEVICES devices, 4 projects, $pages pages)" "promlet packet-sd"
printf '%-44s %s\n' "peak RSS (VmHWM)" "$((hwm / 1024)).$(( (hwm % 1024) * 10 / 1024 )) MiB ($hwm kB; target <= 16 MiB)"
printf '%-44s %s\n' "RSS after the refresh (VmRSS)" "$rss kB"
printf '%-44s %s\n' "refresh (start to file, wall)" "$(python3 -c "print(f'{$end - $start:.2f} s')")"
printf '%-44s %s\n' "API list calls (sum of durations)" "${calls_sum} s"
printf '%-44s %s\n' "targets written / devices skipped" "$targets / $skipped"
printf '%-44s %s\n' "output file" "$size bytes"
printf '%-44s %s\n' "file states seen by the 1 ms watcher" "$states (inode size: $(tr '\n' ';' <"$work/watch.txt"))"
if [ "$states" = 2 ] && [ "$(tail -1 "$work/watch.txt" | cut -d' ' -f2)" = "$size" ]; then
  echo "file replaced in one rename: yes (old file, then the complete new one under a new inode)"
else
  echo "file replaced in one rename: NO"
  exit 1
fi
if [ "$hwm" -gt $((16 * 1024)) ]; then
  echo "peak RSS over the 16 MiB target"
  exit 1
fi
