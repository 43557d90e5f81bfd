#!/usr/bin/env python3
"""Fake HDHomeRun tuners for bench/hdhomerun.sh: N devices on N TCP ports of 127.0.0.1, each
answering getset requests (HDHomeRun control protocol: big-endian type and length, TLV tags,
little-endian zlib CRC-32) like a 4-tuner HDHR4 with tuner 0 streaming. Independent of promlet.

Prints one line `ports: p1 p2 ...` when listening; runs until killed.
  --devices N   how many devices (default 1)
  --tuners T    tuners per device (default 4)
  --delay MS    wait this long before each reply (default 0)
"""
import argparse
import socket
import struct
import sys
import threading
import time
import zlib


def frame(typ, tags):
    payload = b""
    for t, v in tags:
        n = len(v)
        ln = bytes([n]) if n < 128 else bytes([0x80 | (n & 0x7F), n >> 7])
        payload += bytes([t]) + ln + v
    body = struct.pack(">HH", typ, len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def tags_of(payload):
    out, i = {}, 0
    while i + 1 < len(payload):
        t, n = payload[i], payload[i + 1]
        i += 2
        if n & 0x80:
            n = (n & 0x7F) | (payload[i] << 7)
            i += 1
        out.setdefault(t, payload[i:i + n])
        i += n
    return out


TUNED = ("tun: ch=auto:21 lock=8vsb:515000000 ss=80 snq=76 seq=100 dbg=-514/13110\n"
         "dev: bps=19394080 resync=0 overflow=0\nts:  bps=19394080 te=0 crc=0\n"
         "net: pps=1451 err=0 stop=0\n")
IDLE = ("tun: ch=none lock=none ss=0 snq=0 seq=0 dbg=0\ndev: bps=0 resync=0 overflow=0\n"
        "ts:  bps=0 te=0 crc=0\nnet: pps=0 err=0 stop=0\n")


def value(name, tuners):
    fixed = {"/sys/model": "hdhomerun4_atsc", "/sys/hwmodel": "HDHR4-2US",
             "/sys/version": "20200907",
             "/tuner0/streaminfo": "3: 6.1 CBMT-DT\n4: 6.2 CBMT-SD\ntsid=0x4467\n"}
    if name in fixed:
        return fixed[name]
    for n in range(tuners):
        if name == "/tuner%d/debug" % n:
            return TUNED if n == 0 else IDLE
    return None


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def serve(conn, tuners, delay):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with conn:
        while True:
            head = recv_exact(conn, 4)
            if head is None:
                return
            _, ln = struct.unpack(">HH", head)
            rest = recv_exact(conn, ln + 4)
            if rest is None:
                return
            name = tags_of(rest[:ln]).get(3, b"").split(b"\0")[0]
            v = value(name.decode(), tuners)
            tags = [(3, name + b"\0")]
            if v is None:
                tags.append((5, b"ERROR: unknown getset variable\0"))
            else:
                tags.append((4, v.encode() + b"\0"))
            if delay:
                time.sleep(delay)
            conn.sendall(frame(5, tags))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1)
    ap.add_argument("--tuners", type=int, default=4)
    ap.add_argument("--delay", type=float, default=0.0)
    a = ap.parse_args()
    listeners = []
    for _ in range(a.devices):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        listeners.append(s)

    def accept(s):
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(c, a.tuners, a.delay / 1000.0), daemon=True).start()

    for s in listeners:
        threading.Thread(target=accept, args=(s,), daemon=True).start()
    print("ports: " + " ".join(str(s.getsockname()[1]) for s in listeners), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
