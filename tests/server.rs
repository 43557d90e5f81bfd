//! The HTTP server against hostile and ordinary clients, through the built binary.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn serves_metrics_landing_page_and_errors() {
    let p = promlet(&[]);
    let r = http_get(p.addr, "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(r.text().contains("promlet_build_info{"));
    promtool_check_metrics(&r.text());
    let landing = http_get(p.addr, "/");
    assert_eq!(landing.status, 200);
    assert!(landing.text().contains("href=\"/metrics\""));
    assert_eq!(http_get(p.addr, "/nope").status, 404);
    let post = http_request(p.addr, "POST", "/metrics", &[("Content-Length", "0")]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let head = http_request(p.addr, "HEAD", "/metrics", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(
        head.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );
}

#[test]
fn gzip_when_asked() {
    let p = promlet(&[]);
    let r = http_request(p.addr, "GET", "/metrics", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(&r.body[..2], &[0x1f, 0x8b]);
    let plain = http_get(p.addr, "/metrics");
    assert_eq!(plain.header("content-encoding"), None);
}

#[test]
fn garbage_request_line_gets_400() {
    let p = promlet(&[]);
    let out = raw_exchange(p.addr, b"\x16\x03\x01\x02\x00garbage\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    let out = raw_exchange(p.addr, b"GET /metrics HTTP/1.1\r\nbroken header\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
}

#[test]
fn oversized_header_gets_431_and_metrics_keeps_answering() {
    let p = promlet(&[]);
    let mut req = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat(b'a').take(1 << 20));
    req.extend_from_slice(b"\r\n\r\n");
    let out = raw_exchange(p.addr, &req);
    assert!(
        out.starts_with("HTTP/1.1 431"),
        "{}",
        &out[..out.len().min(200)]
    );
    assert_eq!(http_get(p.addr, "/metrics").status, 200);
}

#[test]
fn idle_and_slow_clients_do_not_starve_scrapes() {
    // Fewer workers than idle clients: idle connections must not hold workers.
    let p = promlet(&["--web.max-requests=2"]);
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(p.addr).unwrap());
    }
    // Two slowloris clients that send half a request and stall hold both workers...
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(p.addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        slow.push(s);
    }
    // ...for at most the head timeout; a scrape still gets through.
    let t0 = Instant::now();
    let r = http_get(p.addr, "/metrics");
    assert_eq!(r.status, 200);
    assert!(t0.elapsed() < Duration::from_secs(30));
    drop(idle);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let p = promlet(&[]);
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Two pipelined requests, then a third after a pause (the connection was parked).
    s.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out.matches("HTTP/1.1 404").count(), 3, "{out}");
}

#[test]
fn bad_flags_and_version() {
    let out = std::process::Command::new(promlet_bin())
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown flag --no-such-flag"));
    let out = std::process::Command::new(promlet_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("promlet, version "));
    let out = std::process::Command::new(promlet_bin())
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--web.listen-address=<value>"));
}

#[test]
fn test_ca_makes_a_usable_pki() {
    let ca = TestCa::new("ca-selftest");
    let out = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&ca.ca_cert)
        .arg(&ca.server_cert)
        .arg(&ca.client_cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `make run` serves the examples/ configuration: keep it valid.
#[test]
fn make_run_example_configuration_serves_every_part() {
    let p = promlet(&[
        "--http-sd.directory=examples/targets",
        "--config.file=examples/promlet.yml",
    ]);
    let merged = http_get(p.addr, "/merged");
    assert_eq!(merged.status, 200);
    let text = merged.text();
    assert!(text.contains("demo_info{exporter_name=\"file\""), "{text}");
    assert!(
        text.contains("demo_uptime_seconds{exporter_name=\"script\"}"),
        "{text}"
    );
    promtool_check_metrics(&text);
    let targets = http_get(p.addr, "/targets/lab?site=garage");
    assert_eq!(targets.status, 200);
    assert!(
        targets.text().contains("\"site\":\"garage\""),
        "{}",
        targets.text()
    );
    promtool_check_metrics(&http_get(p.addr, "/metrics").text());
}
