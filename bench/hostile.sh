#!/usr/bin/env bash
# Hostile-client bench (make bench), everything on 127.0.0.1, bounded in time (about a minute)
# and in connections (at most 2,000 at once):
#  1. plain HTTP: scrape latency of GET /metrics from fresh connections, alone and while 200
#     slowloris connections each send one header byte a second (reconnecting when closed), the
#     scrapes spread over 15 s.
#  2. TLS (web config with a throwaway certificate): TLS scrapes from fresh connections (the
#     handshake included), alone and while 45 connections drip a ClientHello one byte every 4 s
#     and 200 more drip an HTTP head one byte a second after their handshake.
#  3. promlet's RSS and open descriptors after 2,000 idle plain connections (and, for TLS,
#     after 2,000 idle connections that finished their handshake).
# It prints the figures (nothing is asserted) and puts them into the README's table as the
# server.* rows (bench/figures.sh). SCRAPES overrides the count per measure (200).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/figures-lib.sh
BIN=${PROMLET:-target/release/promlet}
[ -x "$BIN" ] || cargo build --locked --release >/dev/null
SCRAPES=${SCRAPES:-200}
cmd="SCRAPES=$SCRAPES${PROMLET:+ PROMLET=$PROMLET} bash bench/hostile.sh"
pids=()
tmp=$(mktemp -d)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
# 2,000 client sockets plus 2,000 in promlet: lift the soft limit where the hard one allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
printf 'tls_server_config:\n  cert_file: %s\n  key_file: %s\n' "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/web.yml"

# Starts promlet on 127.0.0.1:0; sets pid and addr (the address it logged as bound).
start() {
  local log=$1
  shift
  "$BIN" --web.listen-address=127.0.0.1:0 "$@" 2>"$log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do
    addr=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$log" | head -1)
    [ -n "$addr" ] && return
    sleep 0.05
  done
  echo "promlet did not start:" >&2
  cat "$log" >&2
  exit 1
}
start "$tmp/plain.log"
plain_pid=$pid plain_addr=$addr
start "$tmp/tls.log" --web.config.file="$tmp/web.yml"
tls_pid=$pid tls_addr=$addr

python3 - "$plain_pid" "$plain_addr" "$tls_pid" "$tls_addr" "$tmp/cert.pem" "$SCRAPES" "$tmp/rows" <<'EOF'
import os, socket, ssl, statistics, sys, threading, time

plain_pid, plain_addr, tls_pid, tls_addr, cert, scrapes, rows = sys.argv[1:8]
figures = []  # (key, what, promlet) rows for the README's table
scrapes = int(scrapes)
def hp(a):
    h, p = a.rsplit(":", 1)
    return (h, int(p))
plain, tls = hp(plain_addr), hp(tls_addr)
ctx = ssl.create_default_context(cafile=cert)
REQ = b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

def scrape(addr, use_tls):
    t0 = time.perf_counter()
    s = socket.create_connection(addr, timeout=30)
    if use_tls:
        s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    s.sendall(REQ)
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("scrape answered %r" % data[:40])
    return (time.perf_counter() - t0) * 1000

def measure(key, what, label, addr, use_tls, spread=0.0):
    # Under attack the scrapes are spread over `spread` seconds, longer than promlet's 10 s
    # head and handshake deadlines (and the 2 s drain after a 408), so they also meet the
    # attackers' reconnects.
    lat = []
    for _ in range(scrapes):
        lat.append(scrape(addr, use_tls))
        if spread:
            time.sleep(spread / scrapes)
    lat.sort()
    p90 = lat[int(len(lat) * 0.9) - 1]
    print(f"{label}: median {statistics.median(lat):.1f} ms, p90 {p90:.1f} ms, max {lat[-1]:.1f} ms ({len(lat)} scrapes)", flush=True)
    figures.append((key, what, f"{statistics.median(lat):.1f} ms"))

stop = threading.Event()
opened = {"slowloris": 0, "tls-drip": 0, "tls-slowloris": 0}
lock = threading.Lock()

def attacker(kind, addr, interval):
    # One thread per connection keeps the pacing simple; each reconnects when promlet closes it.
    while not stop.is_set():
        try:
            s = socket.create_connection(addr, timeout=10)
            if kind == "tls-slowloris":
                s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
            with lock:
                opened[kind] += 1
            if kind == "tls-drip":
                # A record header announcing a 16 KiB ClientHello, then the rest byte by byte.
                s.sendall(b"\x16\x03\x01\x40\x00")
                drip = b"\x01"
            else:
                s.sendall(b"GET /metrics HTTP/1.1\r\n")
                drip = b"X"
            while not stop.wait(interval):
                s.sendall(drip)
        except OSError:
            pass
        finally:
            try:
                s.close()
            except Exception:
                pass

def attack(specs):
    threads = []
    for kind, addr, n, interval in specs:
        for _ in range(n):
            t = threading.Thread(target=attacker, args=(kind, addr, interval), daemon=True)
            t.start()
            threads.append(t)
    want = sum(n for _, _, n, _ in specs)
    deadline = time.time() + 20
    while sum(opened.values()) < want and time.time() < deadline:
        time.sleep(0.1)
    return threads

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def held(key, pid, addr, n, use_tls):
    before = rss_kib(pid)
    socks = []
    for _ in range(n):
        s = socket.create_connection(addr, timeout=10)
        if use_tls:
            s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        socks.append(s)
    time.sleep(1)  # let the poller accept the last ones
    rss = rss_kib(pid)
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    kind = "TLS " if use_tls else ""
    print(f"{n} idle {kind}connections held: RSS {rss / 1024:.1f} MiB (before: {before / 1024:.1f} MiB), open fds {fds}", flush=True)
    done = " (handshakes done)" if use_tls else ""
    figures.append((key, f"server: RSS and open fds holding {n:,} idle {kind}connections{done}", f"{rss / 1024:.1f} MiB, {fds:,} fds"))
    ok = scrape(addr, use_tls)
    print(f"  a scrape meanwhile: {ok:.1f} ms", flush=True)
    for s in socks:
        s.close()

fresh = "server: scrape median, fresh connection"
tls_fresh = "server: TLS scrape median, fresh connection (handshake included)"
measure("server.plain", f"{fresh}, no attack", "plain, no attack", plain, False)
stop.clear()
attack([("slowloris", plain, 200, 1.0)])
measure("server.plain-slowloris", f"{fresh}, 200 slowloris connections open", "plain, 200 slowloris open", plain, False, 15.0)
stop.set()
time.sleep(1.5)

measure("server.tls", f"{tls_fresh}, no attack", "TLS, no attack", tls, True)
stop.clear()
attack([("tls-drip", tls, 45, 4.0), ("tls-slowloris", tls, 200, 1.0)])
measure("server.tls-attack", f"{tls_fresh}, 45 TLS-drip and 200 TLS slowloris connections open",
        "TLS, 45 TLS-drip + 200 TLS slowloris open", tls, True, 15.0)
stop.set()
time.sleep(1.5)
print(f"attack connections opened: {opened}", flush=True)

held("server.idle", int(plain_pid), plain, 2000, False)
held("server.idle-tls", int(tls_pid), tls, 2000, True)
with open(rows, "w") as f:
    for key, what, value in figures:
        print("\t".join((key, what, value, "", "", "", "")), file=f)
EOF
fig_put "$cmd" <"$tmp/rows"
