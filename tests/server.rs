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

#[cfg(feature = "gzip")]
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
#[cfg(all(feature = "http-sd", feature = "proxy", feature = "yaml"))]
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

/// GET `path` on a fresh connection, giving up (None) if no complete answer came within `limit`.
fn get_within(addr: std::net::SocketAddr, path: &str, limit: Duration) -> Option<HttpResponse> {
    let mut s = TcpStream::connect_timeout(&addr, limit).ok()?;
    s.set_read_timeout(Some(limit)).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    Some(parse_response(&raw))
}

/// Sends `bytes` from another thread (errors ignored) while this one reads the whole answer:
/// the read must end in EOF, not in a reset that would have eaten the answer.
fn exchange_without_reset(addr: std::net::SocketAddr, bytes: Vec<u8>) -> String {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&bytes);
    });
    let mut out = Vec::new();
    let r = (&s).read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(r.is_ok(), "reading the answer failed: {r:?}; got {text:?}");
    writer.join().unwrap();
    text
}

#[test]
fn slowloris_heads_hold_no_worker() {
    // Before the poller read heads, each of these held a worker for the 10 s head deadline:
    // 200 of them against 40 workers kept a scrape waiting for most of a minute.
    let p = promlet(&[]);
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(p.addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .unwrap();
        slow.push(s);
    }
    let r = get_within(p.addr, "/metrics", Duration::from_secs(5))
        .expect("scrape not answered within 5 s while 200 slowloris connections are open");
    assert_eq!(r.status, 200);
    drop(slow);
}

#[test]
fn dripped_head_gets_408_at_the_total_deadline() {
    let p = promlet(&[]);
    let mut s = TcpStream::connect(p.addr).unwrap();
    // The read timeout paces the drip: one byte, then wait up to 100 ms for an answer. A
    // per-read timeout would never end this before the 16 KiB cap (160 s away).
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nX-Drip: ").unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    while start.elapsed() < Duration::from_secs(30) {
        if s.write_all(b"a").is_err() {
            break;
        }
        let mut b = [0u8; 512];
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
}

#[test]
fn error_answers_arrive_before_the_close() {
    let p = promlet(&[]);
    // A bad head followed by more than the server reads: closing with those bytes unread
    // would reset the connection.
    let mut req = b"GET /metrics HTTP/1.1\r\nbroken header\r\n\r\n".to_vec();
    req.extend(std::iter::repeat(b'x').take(256 * 1024));
    let out = exchange_without_reset(p.addr, req);
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    let mut req = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat(b'a').take(512 * 1024));
    let out = exchange_without_reset(p.addr, req);
    assert!(
        out.starts_with("HTTP/1.1 431"),
        "{}",
        &out[..out.len().min(200)]
    );
}

#[test]
fn conflicting_content_length_is_400() {
    let p = promlet(&[]);
    for head in [
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd",
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        let out = raw_exchange(p.addr, head.as_bytes());
        assert!(out.starts_with("HTTP/1.1 400"), "{head:?}: {out}");
    }
    // Repeated but equal is one length (RFC 9112 6.3).
    let out = raw_exchange(
        p.addr,
        b"GET /nope HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nz",
    );
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
}

#[test]
fn small_request_body_is_skipped_not_served_as_a_request() {
    let p = promlet(&[]);
    // The body looks like a request; it must be dropped, and the real second request served.
    let out = raw_exchange(
        p.addr,
        b"GET /nope HTTP/1.1\r\nContent-Length: 25\r\n\r\nGET /metrics HTTP/1.1\r\n\r\nGET /nope2 HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(out.matches("HTTP/1.1 404").count(), 2, "{out}");
    assert!(!out.contains("HTTP/1.1 200"), "{out}");
}

#[test]
fn nul_and_bare_cr_in_headers_are_400() {
    let p = promlet(&[]);
    for head in [
        &b"GET /metrics HTTP/1.1\r\nX-A: a\0b\r\n\r\n"[..],
        b"GET /metrics HTTP/1.1\r\nX-A: a\rX-Injected: 1\r\n\r\n",
        b"GET /metrics\r HTTP/1.1\r\n\r\n",
    ] {
        let out = raw_exchange(p.addr, head);
        assert!(
            out.starts_with("HTTP/1.1 400"),
            "{:?}: {out}",
            String::from_utf8_lossy(head)
        );
    }
}

#[test]
fn http10_keep_alive_is_answered_and_kept() {
    let p = promlet(&[]);
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /nope HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    // Read exactly the first answer (by its Content-Length): a client may not wait for EOF.
    let mut got = Vec::new();
    let first = loop {
        let mut b = [0u8; 1024];
        let n = s.read(&mut b).expect("first answer");
        assert!(n > 0, "closed without an answer");
        got.extend_from_slice(&b[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let r = parse_response(&got);
            let len: usize = r.header("content-length").unwrap().parse().unwrap();
            if got.len() >= end + 4 + len {
                break r;
            }
        }
    };
    assert_eq!(first.status, 404);
    assert_eq!(first.header("connection"), Some("keep-alive"));
    s.write_all(b"GET /nope HTTP/1.0\r\n\r\n").unwrap();
    let mut rest = String::new();
    s.read_to_string(&mut rest).unwrap();
    assert!(rest.starts_with("HTTP/1.1 404"), "{rest}");
}

#[test]
fn connection_cap_follows_the_file_limit_and_closes_the_oldest() {
    use std::os::unix::process::CommandExt;
    // A limit of 256 descriptors: a fixed cap of 1024 let idle clients take them all, and the
    // scrape's connection was never accepted.
    let p = promlet_with(&[], |cmd| {
        // SAFETY: setrlimit is async-signal-safe and touches only the child.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 256,
                    rlim_max: 256,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let mut idle = Vec::new();
    for _ in 0..400 {
        if let Ok(s) = TcpStream::connect_timeout(&p.addr, Duration::from_secs(2)) {
            idle.push(s);
        }
    }
    let r = get_within(p.addr, "/metrics", Duration::from_secs(5))
        .expect("scrape not answered while idle connections fill the file limit");
    assert_eq!(r.status, 200);
    // The first connections were the ones closed.
    let first = &mut idle[0];
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut b = [0u8; 16];
    let closed = match first.read(&mut b) {
        Ok(n) => n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "the oldest idle connection is still open");
}

#[test]
fn repeated_listen_addresses_are_each_bound() {
    // The harness gives one 127.0.0.1:0; a second flag binds a second port.
    let p = promlet(&["--web.listen-address=127.0.0.1:0"]);
    let addrs = wait_for(Duration::from_secs(10), || {
        let a = p.addrs();
        (a.len() == 2).then_some(a)
    })
    .unwrap_or_else(|| panic!("want two listening lines:\n{}", p.log_text()));
    assert_ne!(addrs[0], addrs[1]);
    for a in addrs {
        assert_ne!(a.port(), 0);
        assert_eq!(http_get(a, "/metrics").status, 200, "{a}");
    }
}
