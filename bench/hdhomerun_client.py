#!/usr/bin/env python3
"""HTTP side of bench/hdhomerun.sh: scrapes promlet's /hdhomerun and reports timings.
  latency PROMLET PORT N          median/p90 of N sequential scrapes (one keep-alive connection)
  parallel PROMLET DELAY PORTS... wall time of one scrape per port, sequential then concurrent
"""
import http.client
import statistics
import sys
import threading
import time


def scrape(conn, port):
    conn.request("GET", "/hdhomerun?target=127.0.0.1:%s" % port)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200 or b"hdhomerun_up 1\n" not in body:
        sys.exit("scrape of device %s failed: %s\n%s" % (port, r.status, body.decode(errors="replace")))


def conn_to(promlet):
    host, port = promlet.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=30)


def latency(promlet, port, n):
    c = conn_to(promlet)
    for _ in range(20):
        scrape(c, port)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        scrape(c, port)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print("%.3f %.3f" % (statistics.median(times), times[int(len(times) * 0.9)]))


def parallel(promlet, ports):
    t = time.perf_counter()
    c = conn_to(promlet)
    for p in ports:
        scrape(c, p)
    seq = time.perf_counter() - t

    def one(p):
        scrape(conn_to(promlet), p)

    threads = [threading.Thread(target=one, args=(p,)) for p in ports]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    conc = time.perf_counter() - t
    print("%.3f %.3f" % (seq, conc))


if __name__ == "__main__":
    if sys.argv[1] == "latency":
        latency(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        parallel(sys.argv[2], sys.argv[4:])
