#!/usr/bin/env python3
"""A fake Packet / Equinix Metal API for bench/packet-sd.sh: PROJECTS projects with DEVICES
devices in all, served in pages of at most 100 (the API overview's page limit), each device
about as large as a real Metal device answer (ip addresses, network ports, plan, OS,
facility, metro, tags). Every 20th device is provisioning without addresses. Devices are
generated per page, so the server's own memory stays flat.

usage: packet-sd-fake-api.py PORTFILE [DEVICES] [PROJECTS] [CERT KEY]
Listens on 127.0.0.1:0 (HTTPS when CERT and KEY are given) and writes the port to PORTFILE;
logs the request count to stderr at exit.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PORTFILE = sys.argv[1]
DEVICES = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
PROJECTS = int(sys.argv[3]) if len(sys.argv) > 3 else 4
PER_PROJECT = DEVICES // PROJECTS
MAX_PER_PAGE = 100
ORG = "c7a4e1f2-8b3d-4c5e-9f60-1a2b3c4d5e6f"
REQUESTS = {"n": 0}


def project_id(p):
    return "%08x-0000-4000-8000-%012x" % (0x2F0A0000 + p, p)


def device(p, i):
    n = p * PER_PROJECT + i
    did = "%08x-1b0f-4a8e-9e57-%012x" % (n, n)
    d = {
        "id": did,
        "short_id": did[:8],
        "href": "/metal/v1/devices/" + did,
        "hostname": "node-%05d.example.net" % n,
        "description": None,
        "state": "active",
        "billing_cycle": "hourly",
        "tags": ["role:worker", "rack:%d" % (n % 40), "prod"],
        "switch_uuid": "%08x" % (n * 7919 % 0xFFFFFFFF),
        "locked": False,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-06-01T00:00:00Z",
        "plan": {"id": "p-c3", "slug": "c3.small.x86", "name": "c3.small.x86", "class": "c3.small.x86",
                 "specs": {"cpus": [{"count": 1, "type": "Intel Xeon E-2278G"}],
                           "memory": {"total": "32GB"}, "drives": [{"count": 2, "size": "480GB", "type": "SSD"}]}},
        "operating_system": {"id": "os-u22", "slug": "ubuntu_22_04", "name": "Ubuntu 22.04 LTS",
                             "distro": "ubuntu", "version": "22.04"},
        "facility": {"id": "f-sv15", "code": "sv15", "name": "Silicon Valley 15", "features": ["baremetal", "layer_2"]},
        "metro": {"id": "m-sv", "code": "sv", "name": "Silicon Valley", "country": "US"},
        "project": {"href": "/metal/v1/projects/" + project_id(p)},
        "network_ports": [
            {"id": "np-%d-b" % n, "type": "NetworkBondPort", "name": "bond0", "network_type": "layer3",
             "data": {"bonded": True, "mac": None}},
            {"id": "np-%d-0" % n, "type": "NetworkPort", "name": "eth0",
             "data": {"bonded": True, "mac": "b8:ce:f6:%02x:%02x:%02x" % (n >> 16 & 255, n >> 8 & 255, n & 255)}},
        ],
        "ip_addresses": [
            {"address_family": 4, "public": True, "management": True, "cidr": 31,
             "address": "139.178.%d.%d" % (n >> 8 & 255, n & 255), "gateway": "139.178.0.1"},
            {"address_family": 6, "public": True, "management": True, "cidr": 127,
             "address": "2604:1380:4641:%x::1" % n, "gateway": "2604:1380:4641:%x::" % n},
            {"address_family": 4, "public": False, "management": True, "cidr": 31,
             "address": "10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255), "gateway": "10.0.0.1"},
        ],
    }
    if n % 20 == 0:
        d["state"] = "provisioning"
        d["provisioning_percentage"] = 35.0
        d["ip_addresses"] = []
    return d


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        REQUESTS["n"] += 1
        u = urlparse(self.path)
        q = parse_qs(u.query)
        page = int(q.get("page", ["1"])[0])
        per_page = min(int(q.get("per_page", ["10"])[0]), MAX_PER_PAGE)
        parts = u.path.strip("/").split("/")
        if parts[:3] == ["metal", "v1", "projects"] and len(parts) == 3:
            projects = [{"id": project_id(p), "name": "project-%d" % p,
                         "organization": {"id": ORG, "name": "Bench Org"}} for p in range(PROJECTS)]
            self.send_json(200, {"projects": projects, "meta": {"next": None, "current_page": 1, "last_page": 1}})
            return
        if len(parts) == 5 and parts[4] == "devices":
            p = [project_id(i) for i in range(PROJECTS)].index(parts[3])
            start = (page - 1) * per_page
            items = [device(p, i) for i in range(start, min(start + per_page, PER_PROJECT))]
            last = (PER_PROJECT + per_page - 1) // per_page
            nxt = {"href": "/metal/v1/projects/%s/devices?page=%d" % (parts[3], page + 1)} if page < last else None
            self.send_json(200, {"devices": items, "meta": {"next": nxt, "current_page": page,
                                                            "last_page": last, "total": PER_PROJECT}})
            return
        self.send_json(404, {"error": "Not found"})


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if len(sys.argv) > 5:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(PORTFILE + ".tmp", PORTFILE)
    try:
        srv.serve_forever()
    finally:
        sys.stderr.write("requests=%d\n" % REQUESTS["n"])


if __name__ == "__main__":
    main()
