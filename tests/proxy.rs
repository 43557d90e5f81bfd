//! The merging proxy end to end, through the built binary: real upstreams (Debian's
//! node_exporter and exporter_exporter), files, scripts, and stub HTTP servers that fail in
//! the ways `docs/merging-proxy.md` lists (cases 15-17, 20-24, 27; the
//! pure merge cases are unit tests in src/proxy/tests.rs). The configs here are YAML.
#![cfg(all(feature = "proxy", feature = "yaml"))]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A stub upstream: answers each path with canned bytes, or hangs, or breaks off.
#[derive(Clone)]
enum Reply {
    Raw(Vec<u8>),
    /// Accepts, reads the request, never answers.
    Hang,
}

fn ok(content_type: &str, body: &[u8]) -> Reply {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", body.len()).into_bytes();
    if !content_type.is_empty() {
        r.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    Reply::Raw(r)
}

fn stub(routes: Vec<(&'static str, Reply)>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let routes = routes.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut req = Vec::new();
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req);
                let path = line.split(' ').nth(1).unwrap_or("").to_string();
                match routes.iter().find(|(p, _)| *p == path).map(|(_, r)| r) {
                    Some(Reply::Raw(b)) => {
                        let _ = s.write_all(b);
                    }
                    Some(Reply::Hang) => std::thread::sleep(Duration::from_secs(120)),
                    None => {
                        let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    }
                }
            });
        }
    });
    addr
}

fn write_config(dir: &Path, yaml: &str) -> String {
    let p = dir.join("promlet.yml");
    std::fs::write(&p, yaml).unwrap();
    format!("--config.file={}", p.display())
}

fn script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.display().to_string()
}

/// Sample lines (not comments) of an exposition.
fn series(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn own(l: &str) -> bool {
    l.starts_with("promlet_exporter_")
}

/// The value of `promlet_exporter_up{exporter_name="name"}` in a merged answer.
fn up(text: &str, name: &str) -> Option<f64> {
    let prefix = format!("promlet_exporter_up{{exporter_name=\"{name}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

fn scrape(p: &Proc, path: &str, timeout_s: &str) -> HttpResponse {
    http_request(
        p.addr,
        "GET",
        path,
        &[("X-Prometheus-Scrape-Timeout-Seconds", timeout_s)],
    )
}

fn curl(url: &str) -> String {
    let curl = require_tool("curl", "curl");
    let out = Command::new(curl).args(["-sf", url]).output().unwrap();
    assert!(out.status.success(), "curl {url} failed");
    String::from_utf8(out.stdout).unwrap()
}

fn node_exporter() -> Proc {
    let bin = require_tool("prometheus-node-exporter", "prometheus-node-exporter");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    spawn_listening(
        &bin,
        &[format!("--web.listen-address={addr}")],
        addr,
        "node_exporter",
    )
}

/// Case 27 with real peers: two node_exporters (one through exporter_exporter), a file and a
/// script. Output passes promtool, carries exporter_name everywhere, and has exactly as many
/// series as the inputs together.
#[test]
fn merges_node_exporter_exporter_exporter_file_and_script() {
    let dir = tempdir("proxy-real");
    let n1 = node_exporter();
    let n2 = node_exporter();
    let expexp_bin = require_tool(
        "prometheus-exporter-exporter",
        "prometheus-exporter-exporter",
    );
    let expexp_cfg = dir.join("expexp.yml");
    std::fs::write(
        &expexp_cfg,
        format!(
            "modules:\n  node:\n    method: http\n    http:\n      port: {}\n      address: 127.0.0.1\n",
            n2.addr.port()
        ),
    )
    .unwrap();
    let ee_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _ee = spawn_listening(
        &expexp_bin,
        &[
            format!("-web.listen-address={ee_addr}"),
            format!("-config.file={}", expexp_cfg.display()),
        ],
        ee_addr,
        "exporter_exporter",
    );
    let file = dir.join("extra.prom");
    std::fs::write(
        &file,
        "# HELP extra_info Static facts.\n# TYPE extra_info gauge\nextra_info{site=\"r1\",note=\"a \\\"quoted\\\" \\\\ value\"} 1\n",
    )
    .unwrap();
    let sh = script(
        &dir,
        "gen.sh",
        "echo '# TYPE script_runs_total counter'; echo 'script_runs_total{kind=\"x\"} 5'",
    );
    let cfg = write_config(
        &dir,
        &format!(
            "proxy:\n- path: /merged\n  exporters:\n  - name: node1\n    http: http://{}/metrics\n  - name: node2\n    http: http://{ee_addr}/proxy?module=node\n  - name: file\n    file: {}\n  - name: script\n    exec: [{sh}]\n",
            n1.addr,
            file.display()
        ),
    );
    let p = promlet(&[&cfg]);
    let merged = scrape(&p, "/merged", "10");
    assert_eq!(merged.status, 200);
    assert_eq!(
        merged.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = merged.text();
    promtool_check_metrics(&text);
    for name in ["node1", "node2", "file", "script"] {
        assert_eq!(up(&text, name), Some(1.0), "{name} down:\n{}", p.log_text());
    }
    let out = series(&text);
    for l in out.iter().filter(|l| !own(l)) {
        assert!(l.contains("exporter_name=\""), "no exporter_name: {l}");
    }
    // The same inputs fetched directly, right after (with curl: node_exporter answers chunked).
    let in1 = curl(&format!("http://{}/metrics", n1.addr));
    let in2 = curl(&format!("http://{ee_addr}/proxy?module=node"));
    let in_count = series(&in1).len() + series(&in2).len() + 1 + 1;
    let out_count = out.iter().filter(|l| !own(l)).count();
    assert_eq!(out_count, in_count, "series out != sum of series in");
    assert!(text.contains("note=\"a \\\"quoted\\\" \\\\ value\""));
    // promlet's own /metrics reports the proxy.
    let m = http_get(p.addr, "/metrics").text();
    promtool_check_metrics(&m);
    assert!(
        m.contains("promlet_exporter_up{exporter_name=\"node1\",path=\"/merged\"} 1\n"),
        "{m}"
    );
    assert!(m.contains("promlet_proxy_scrapes_total{path=\"/merged\"} 1\n"));
}

/// Cases 15 and 16: refused, hung, HTTP 500 and broken-off upstreams are dropped whole, the
/// healthy one is served, and the answer comes within the scrape timeout.
#[test]
fn failing_upstreams_are_dropped_and_the_answer_is_on_time() {
    let dir = tempdir("proxy-fail");
    let s = stub(vec![
        (
            "/good",
            ok("text/plain; version=0.0.4", b"# TYPE good gauge\ngood 1\n"),
        ),
        ("/hang", Reply::Hang),
        (
            "/500",
            Reply::Raw(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 6\r\n\r\nbad 1\n".to_vec(),
            ),
        ),
        (
            "/broken",
            Reply::Raw(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n# TYPE half gauge\nhalf 1\nhalf2 "
                    .to_vec(),
            ),
        ),
    ]);
    let closed = free_port();
    let cfg = write_config(
        &dir,
        &format!(
            "proxy:\n- path: /m\n  exporters:\n  - name: good\n    http: http://{s}/good\n  - name: refused\n    http: http://127.0.0.1:{closed}/metrics\n  - name: hung\n    http: http://{s}/hang\n    timeout: 60s\n  - name: e500\n    http: http://{s}/500\n  - name: broken\n    http: http://{s}/broken\n\
             - path: /down\n  exporters:\n  - name: refused\n    http: http://127.0.0.1:{closed}/metrics\n  - name: hung\n    http: http://{s}/hang\n"
        ),
    );
    let p = promlet(&[&cfg]);
    let t = Instant::now();
    let r = scrape(&p, "/m", "3");
    let took = t.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        took < Duration::from_secs(3),
        "answer took {took:?}, scrape timeout was 3s"
    );
    let text = r.text();
    promtool_check_metrics(&text);
    assert_eq!(up(&text, "good"), Some(1.0), "{text}");
    for n in ["refused", "hung", "e500", "broken"] {
        assert_eq!(up(&text, n), Some(0.0), "{n}: {text}");
    }
    assert!(text.contains("good{exporter_name=\"good\"} 1\n"));
    assert!(
        !text.contains("half"),
        "a broken body is dropped whole: {text}"
    );
    assert!(!text.contains("bad"));
    assert!(text.contains("promlet_exporter_scrape_duration_seconds{exporter_name=\"hung\"}"));
    let log = p.log_text();
    assert!(
        log.contains("exporter e500 of path /m is down: HTTP status 500"),
        "{log}"
    );
    assert!(log.contains("exporter broken of path /m is down"), "{log}");

    // All down: 200 with only promlet's own series, all up=0.
    let t = Instant::now();
    let r = scrape(&p, "/down", "2");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(series(&text).iter().all(|l| own(l)), "{text}");
    assert_eq!(up(&text, "refused"), Some(0.0));
    assert_eq!(up(&text, "hung"), Some(0.0));
}

/// Case 17 and 18: whatever the scraper accepts, the answer is valid 0.0.4 (gzipped when
/// asked); upstreams in OpenMetrics, gzip, or with no Content-Type are all read.
#[test]
fn negotiation_and_upstream_formats() {
    let dir = tempdir("proxy-formats");
    let mut big = String::from("# TYPE filler gauge\n");
    for i in 0..100 {
        big.push_str(&format!("filler{{i=\"{i}\"}} {i}\n"));
    }
    let gz = {
        let z = Command::new("gzip")
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut z = z;
        z.stdin.take().unwrap().write_all(big.as_bytes()).unwrap();
        z.wait_with_output().unwrap().stdout
    };
    let mut gz_reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    gz_reply.extend_from_slice(&gz);
    let s = stub(vec![
        ("/gz", Reply::Raw(gz_reply)),
        (
            "/om",
            ok(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                b"# TYPE foo counter\n# HELP foo Foos.\nfoo_total 3\n# EOF\n",
            ),
        ),
        ("/none", ok("", b"plain_metric 7\n")),
        (
            "/chunked",
            Reply::Raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nchunky 1\n\r\n0\r\n\r\n".to_vec()),
        ),
    ]);
    let cfg = write_config(
        &dir,
        &format!(
            "proxy:\n- path: /m\n  exporters:\n  - name: gz\n    http: http://{s}/gz\n  - name: om\n    http: http://{s}/om\n  - name: none\n    http: http://{s}/none\n  - name: chunked\n    http: http://{s}/chunked\n"
        ),
    );
    let p = promlet(&[&cfg]);
    let prom_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    for accept in [Some(prom_accept), Some("*/*"), None, Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")] {
        let mut h = vec![("X-Prometheus-Scrape-Timeout-Seconds", "10")];
        if let Some(a) = accept {
            h.push(("Accept", a));
        }
        let r = http_request(p.addr, "GET", "/m", &h);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        assert!(r.header("content-encoding").is_none());
        let text = r.text();
        promtool_check_metrics(&text);
        for n in ["gz", "om", "none", "chunked"] {
            assert_eq!(up(&text, n), Some(1.0), "{n}: {}", p.log_text());
        }
        assert!(text.contains("# HELP foo_total Foos.\n# TYPE foo_total counter\nfoo_total{exporter_name=\"om\"} 3\n"), "{text}");
        assert!(text.contains("plain_metric{exporter_name=\"none\"} 7\n"));
        assert!(text.contains("filler{exporter_name=\"gz\",i=\"99\"} 99\n"));
        assert!(text.contains("chunky{exporter_name=\"chunked\"} 1\n"));
    }
    let r = http_request(
        p.addr,
        "GET",
        "/m",
        &[("Accept-Encoding", "gzip"), ("Accept", prom_accept)],
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(&r.body[..2], &[0x1f, 0x8b]);
}

/// Case 20: ten concurrent scrapes while the script runs share one run and get identical
/// bodies; the next scrape after it finished starts a new run.
#[test]
fn concurrent_scrapes_share_one_exec_run() {
    let dir = tempdir("proxy-exec-share");
    let count = dir.join("runs");
    let sh = script(
        &dir,
        "slow.sh",
        &format!(
            "echo run >> {}; sleep 1; echo \"value $(date +%s%N)\"",
            count.display()
        ),
    );
    let cfg = write_config(
        &dir,
        &format!("proxy:\n- path: /m\n  exporters:\n  - name: s\n    exec: [{sh}]\n"),
    );
    let p = promlet(&[&cfg]);
    let addr = p.addr;
    let handles: Vec<_> = (0..10)
        .map(|_| std::thread::spawn(move || http_get(addr, "/m").text()))
        .collect();
    let bodies: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let values: Vec<&str> = bodies
        .iter()
        .map(|b| {
            b.lines()
                .find(|l| l.starts_with("value"))
                .expect("value line")
        })
        .collect();
    assert!(values.iter().all(|v| *v == values[0]), "{values:?}");
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 1);
    let again = http_get(addr, "/m").text();
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 2);
    assert!(!again.contains(values[0]));
}

/// Children of `pid` that are zombies.
fn zombies_of(pid: u32) -> Vec<String> {
    let mut z = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = after.split(' ').collect();
        if f.len() > 1 && f[0] == "Z" && f[1] == pid.to_string() {
            z.push(stat);
        }
    }
    z
}

/// Case 21: failing, hanging and chatty scripts: exporter_up=0, the hung child and its own
/// child killed and reaped, stderr logged.
#[test]
fn exec_failures_are_reported_and_children_reaped() {
    let dir = tempdir("proxy-exec-fail");
    let pids = dir.join("pids");
    let fail = script(&dir, "fail.sh", "echo 'x 1'; exit 3");
    let hang = script(
        &dir,
        "hang.sh",
        &format!(
            "sleep 300 & echo $! >> {p}; echo $$ >> {p}; sleep 300",
            p = pids.display()
        ),
    );
    let chatty = script(
        &dir,
        "chatty.sh",
        "echo 'something odd happened' >&2; echo 'ok_metric 1'",
    );
    let cfg = write_config(
        &dir,
        &format!(
            "proxy:\n- path: /m\n  exporters:\n  - name: fail\n    exec: [{fail}]\n  - name: hang\n    exec: [{hang}]\n    timeout: 1s\n  - name: chatty\n    exec: [{chatty}]\n"
        ),
    );
    let p = promlet(&[&cfg]);
    let t = Instant::now();
    let text = scrape(&p, "/m", "10").text();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(up(&text, "fail"), Some(0.0), "{text}");
    assert_eq!(up(&text, "hang"), Some(0.0));
    assert_eq!(up(&text, "chatty"), Some(1.0));
    assert!(text.contains("ok_metric{exporter_name=\"chatty\"} 1\n"));
    assert!(!text.contains("x{"), "output of a failed run is dropped");
    // The script and its background sleep are gone (killed and reaped, not zombies).
    let listed = std::fs::read_to_string(&pids).unwrap();
    let gone = wait_for(Duration::from_secs(10), || {
        // Gone, or a zombie of init's (the background sleep, orphaned when the group died).
        listed
            .lines()
            .all(
                |pid| match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                    Ok(s) => s.contains(") Z "),
                    Err(_) => true,
                },
            )
            .then_some(())
    });
    assert!(gone.is_some(), "hung script still running: {listed}");
    assert!(zombies_of(p.child.id()).is_empty());
    let log = wait_for(Duration::from_secs(5), || {
        let l = p.log_text();
        l.contains("something odd happened").then_some(l)
    });
    assert!(log.is_some(), "stderr not logged:\n{}", p.log_text());
    assert!(
        p.log_text().contains("exporter fail of path ")
            && p.log_text().contains("is down: exited with exit status: 3"),
        "{}",
        p.log_text()
    );
}

/// Case 22: an exec exporter with an interval serves its last good output, with its age;
/// the first scrape before the first run ends neither hangs nor fails the endpoint; failed
/// runs keep the old data; no zombies pile up.
#[test]
fn exec_with_interval_serves_the_last_good_output() {
    let dir = tempdir("proxy-exec-cached");
    let flag = dir.join("fail-now");
    let sh = script(
        &dir,
        "cached.sh",
        &format!(
            "[ -e {f} ] && exit 1; sleep 0.3; echo \"stamp $(date +%s%N)\"",
            f = flag.display()
        ),
    );
    let cfg = write_config(
        &dir,
        &format!("proxy:\n- path: /m\n  exporters:\n  - name: c\n    exec: [{sh}]\n    interval: 1s\n  - name: other\n    exec: [/bin/echo, other_metric 1]\n"),
    );
    let p = promlet(&[&cfg]);
    let first = scrape(&p, "/m", "10");
    assert_eq!(first.status, 200);
    let text = first.text();
    assert_eq!(up(&text, "other"), Some(1.0), "{text}");
    let stamp = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("stamp"))
            .map(str::to_string)
    };
    let a = wait_for(Duration::from_secs(10), || {
        stamp(&scrape(&p, "/m", "10").text())
    })
    .expect("no data");
    let t1 = scrape(&p, "/m", "10").text();
    let b = stamp(&t1).unwrap();
    // Two immediate scrapes agree unless a run finished in between (then the next two do).
    let (a, b) = if a == b {
        (a, b)
    } else {
        (b.clone(), stamp(&scrape(&p, "/m", "10").text()).unwrap())
    };
    assert_eq!(a, b);
    assert!(
        t1.contains("promlet_exporter_data_age_seconds{exporter_name=\"c\"}"),
        "{t1}"
    );
    // A run every second: new data comes (within a few intervals).
    let c = wait_for(Duration::from_secs(10), || {
        stamp(&scrape(&p, "/m", "10").text()).filter(|c| *c != a)
    });
    assert!(c.is_some(), "no new run after 10s");
    // Failing runs keep the last good data, and its age grows: after two failed runs the last
    // good one is at least an interval old.
    let failed_before = p.log_text().matches("run failed").count();
    std::fs::write(&flag, "").unwrap();
    let failed = wait_for(Duration::from_secs(10), || {
        (p.log_text().matches("run failed").count() >= failed_before + 2).then_some(())
    });
    assert!(failed.is_some(), "no failed runs logged:\n{}", p.log_text());
    let t = scrape(&p, "/m", "10").text();
    assert_eq!(up(&t, "c"), Some(1.0));
    assert!(stamp(&t).is_some());
    let age: f64 = t
        .lines()
        .find_map(|l| l.strip_prefix("promlet_exporter_data_age_seconds{exporter_name=\"c\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(age >= 1.0, "age {age}");
    assert!(zombies_of(p.child.id()).is_empty());
    assert!(p
        .log_text()
        .contains("run failed, keeping the last good output"));
}

/// Case 23: a missing file, a directory, garbage: exporter_up=0 while others serve; a
/// replaced file is read anew on the next scrape.
#[test]
fn file_exporters_reread_and_fail_alone() {
    let dir = tempdir("proxy-file");
    let good = dir.join("good.prom");
    let garbage = dir.join("garbage.prom");
    std::fs::write(&good, "v 1\n").unwrap();
    std::fs::write(&garbage, "this is { not metrics\n").unwrap();
    let cfg = write_config(
        &dir,
        &format!(
            "proxy:\n- path: /m\n  exporters:\n  - name: good\n    file: {}\n  - name: missing\n    file: {}\n  - name: unreadable\n    file: {}\n  - name: garbage\n    file: {}\n",
            good.display(),
            dir.join("nope.prom").display(),
            dir.display(),
            garbage.display()
        ),
    );
    let p = promlet(&[&cfg]);
    let t = scrape(&p, "/m", "10").text();
    assert_eq!(up(&t, "good"), Some(1.0));
    for n in ["missing", "unreadable", "garbage"] {
        assert_eq!(up(&t, n), Some(0.0), "{n}");
    }
    assert!(t.contains("v{exporter_name=\"good\"} 1\n"));
    let tmp = dir.join("good.prom.tmp");
    std::fs::write(&tmp, "v 2\n").unwrap();
    std::fs::rename(&tmp, &good).unwrap();
    let t = scrape(&p, "/m", "10").text();
    assert!(t.contains("v{exporter_name=\"good\"} 2\n"), "{t}");
}

/// Case 24: every config error stops promlet at start with the file and line.
#[test]
fn config_errors_stop_promlet_with_file_and_line() {
    let dir = tempdir("proxy-config");
    let cases = [
        ("proxy:\n- path: /m\n  exporters:\n  - name: a\n    file: /x\n- path: /m\n  exporters:\n  - name: b\n    file: /x\n", ":6: duplicate path"),
        ("proxy:\n- path: /m\n  exporters:\n  - name: a\n    file: /x\n  - name: a\n    file: /y\n", ":6: duplicate exporter name"),
        ("proxy:\n- path: /m\n  exporters:\n  - name: ''\n    file: /x\n", ":4: exporter name is empty"),
        ("proxy:\n- path: /m\n  exporters:\n  - name: a\n    ftp: /x\n", ":5:"),
        ("proxy:\n- path: /m\n  auth_type: basic\n  exporters:\n  - name: a\n    file: /x\n", ":3:"),
        ("proxy:\n- path: /m\n  exporters:\n  - name: a\n    file: /x\n    labels: {exporter_name: b}\n", ":6:"),
        ("proxy:\n- path: /metrics\n  exporters:\n  - name: a\n    file: /x\n", ":2: path \"/metrics\""),
    ];
    for (i, (yaml, want)) in cases.iter().enumerate() {
        let f = dir.join(format!("c{i}.yml"));
        std::fs::write(&f, yaml).unwrap();
        let out = Command::new(promlet_bin())
            .arg(format!("--config.file={}", f.display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .output()
            .unwrap();
        // One logfmt line: quotes in msg are escaped.
        let err = String::from_utf8_lossy(&out.stderr).replace("\\\"", "\"");
        assert_eq!(out.status.code(), Some(1), "{yaml}\n{err}");
        let want = format!("{}{want}", f.display());
        assert!(err.contains(&want), "want {want:?} in:\n{err}");
    }
}

/// Regression (issue 14): an upstream answering `Transfer-Encoding: chunked` with a chunk size
/// of `ffffffffffffffff` aborted promlet (`range end index 18446744073709551615 out of
/// range`). Now that exporter fails alone and promlet keeps serving.
#[test]
fn a_hostile_chunk_size_fails_one_exporter_not_promlet() {
    let dir = tempdir("proxy-chunk");
    let s = stub(vec![
        (
            "/good",
            ok("text/plain; version=0.0.4", b"# TYPE good gauge\ngood 1\n"),
        ),
        (
            "/huge",
            Reply::Raw(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc\r\n0\r\n\r\n"
                    .to_vec(),
            ),
        ),
        (
            "/long",
            Reply::Raw(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nabc\r\n"
                    .to_vec(),
            ),
        ),
        (
            "/twolengths",
            Reply::Raw(
                b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 24\r\n\r\ngood 2\n# TYPE x gauge\nx 1\n"
                    .to_vec(),
            ),
        ),
    ]);
    let cfg = write_config(
        &dir,
        &format!(
            "proxy:\n- path: /m\n  exporters:\n  - name: good\n    http: http://{s}/good\n  - name: huge\n    http: http://{s}/huge\n  - name: long\n    http: http://{s}/long\n  - name: twolengths\n    http: http://{s}/twolengths\n"
        ),
    );
    let mut p = promlet(&[&cfg]);
    for _ in 0..2 {
        let text = scrape(&p, "/m", "5").text();
        promtool_check_metrics(&text);
        assert_eq!(up(&text, "good"), Some(1.0), "{text}");
        for n in ["huge", "long", "twolengths"] {
            assert_eq!(up(&text, n), Some(0.0), "{n}: {text}");
        }
    }
    assert!(p.child.try_wait().unwrap().is_none(), "promlet died");
    let log = p.log_text();
    assert!(
        log.contains("exporter huge of path /m is down: answer larger than"),
        "{log}"
    );
    assert!(
        log.contains("exporter long of path /m is down: bad chunk size"),
        "{log}"
    );
    assert!(
        log.contains("exporter twolengths of path /m is down: bad or conflicting content-length"),
        "{log}"
    );
}

/// `X-Prometheus-Scrape-Timeout-Seconds` only shortens an exporter's `timeout`: a file
/// exporter that hangs (a FIFO nobody writes) with `timeout: 1s` is given up after 1 s even
/// when the scraper allows an hour (the answer used to wait for the hour, so the client here
/// gave up first).
#[test]
fn the_scrape_timeout_header_never_lengthens_an_exporters_timeout() {
    let dir = tempdir("proxy-longer");
    let fifo = dir.join("never.prom");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let good = dir.join("good.prom");
    std::fs::write(&good, "good 1\n").unwrap();
    let cfg = write_config(
        &dir,
        &format!(
            "proxy:\n- path: /m\n  exporters:\n  - name: good\n    file: {}\n  - name: hung\n    file: {}\n    timeout: 1s\n",
            good.display(),
            fifo.display()
        ),
    );
    let p = promlet(&[&cfg]);
    let text = scrape(&p, "/m", "3600").text();
    assert_eq!(up(&text, "good"), Some(1.0), "{text}");
    assert_eq!(up(&text, "hung"), Some(0.0), "{text}");
}

/// Whether `pid` has ended: gone, or a zombie of init's (orphaned when its group was killed).
fn ended(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.contains(") Z "),
        Err(_) => true,
    }
}

/// promlet's stop (SIGTERM) kills and reaps an `exec` exporter still running, and what it
/// started; they used to be left behind.
#[test]
fn sigterm_ends_running_exec_children() {
    let dir = tempdir("proxy-sigterm");
    let pids = dir.join("pids");
    let slow = script(
        &dir,
        "slow.sh",
        &format!(
            "sleep 300 & echo $! >> {p}; echo $$ >> {p}; sleep 300",
            p = pids.display()
        ),
    );
    let cfg = write_config(
        &dir,
        &format!(
            "proxy:\n- path: /m\n  exporters:\n  - name: slow\n    exec: [{slow}]\n    timeout: 120s\n"
        ),
    );
    let mut p = promlet(&[&cfg]);
    let addr = p.addr;
    // The scrape waits for the command; the promlet it talks to stops under it.
    std::thread::spawn(move || {
        let _ = std::panic::catch_unwind(|| scrape_addr(addr));
    });
    let listed = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&pids)
            .ok()
            .filter(|s| s.lines().count() == 2)
    })
    .expect("the exec exporter did not start");
    // SAFETY: kill(2) on the promlet child this test started.
    unsafe { libc::kill(p.child.id() as libc::pid_t, libc::SIGTERM) };
    let status = wait_for(Duration::from_secs(20), || p.child.try_wait().unwrap())
        .expect("promlet did not stop on SIGTERM");
    assert!(status.success(), "{status}");
    let gone = wait_for(Duration::from_secs(10), || {
        listed.lines().all(ended).then_some(())
    });
    assert!(gone.is_some(), "left behind: {listed}\n{}", p.log_text());
    assert!(
        p.log_text().contains("killed 1 child process groups"),
        "{}",
        p.log_text()
    );
}

fn scrape_addr(addr: SocketAddr) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut b = Vec::new();
    let _ = s.read_to_end(&mut b);
}

/// What a recording stub saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    head: String,
    /// TLS only: the SNI name sent, and whether a client certificate was presented.
    sni: Option<String>,
    client_cert: bool,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

const STUB_BODY: &[u8] = b"# TYPE stub gauge\nstub 1\n";

/// Reads one request head, answers [`STUB_BODY`]; the head, if complete.
fn answer(s: &mut (impl Read + Write)) -> Option<String> {
    let mut buf = [0u8; 4096];
    let mut req = Vec::new();
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
        STUB_BODY.len()
    );
    let _ = s.write_all(reply.as_bytes());
    let _ = s.write_all(STUB_BODY);
    let _ = s.flush();
    Some(String::from_utf8_lossy(&req).into_owned())
}

type SeenLog = std::sync::Arc<std::sync::Mutex<Vec<Seen>>>;

/// A plain-HTTP upstream that records every request head.
fn recording_stub() -> (SocketAddr, SeenLog) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = SeenLog::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            if let Some(head) = answer(&mut s) {
                log.lock().unwrap().push(Seen {
                    head,
                    sni: None,
                    client_cert: false,
                });
            }
        }
    });
    (addr, seen)
}

/// An HTTPS upstream with the test CA's server certificate (for 127.0.0.1 and localhost)
/// that requires a client certificate signed by the test CA, recording what each client sent.
fn tls_stub(ca: &TestCa) -> (SocketAddr, SeenLog) {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&ca.server_cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(&ca.server_key).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&ca.ca_cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = SeenLog::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for tcp in l.incoming() {
            let Ok(tcp) = tcp else { continue };
            let (cfg, log) = (cfg.clone(), log.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(cfg).unwrap();
                let mut s = rustls::StreamOwned::new(conn, tcp);
                if let Some(head) = answer(&mut s) {
                    let sni = s.conn.server_name().map(str::to_string);
                    let client_cert = s.conn.peer_certificates().is_some_and(|c| !c.is_empty());
                    log.lock().unwrap().push(Seen {
                        head,
                        sni,
                        client_cert,
                    });
                }
                s.conn.send_close_notify();
                let _ = s.flush();
            });
        }
    });
    (addr, seen)
}

/// Issue 13: basic_auth, a bearer token from a file and extra headers reach an `http`
/// upstream; secret files are relative to the config and re-read at every scrape; no secret
/// reaches the log.
#[test]
fn http_upstreams_get_credentials_and_headers() {
    let dir = tempdir("proxy-credentials");
    let (s, seen) = recording_stub();
    std::fs::write(dir.join("pass"), "s3cret-pass\n").unwrap();
    std::fs::write(dir.join("token"), "t0ken-one\n").unwrap();
    let cfg = write_config(
        &dir,
        &format!(
            "proxy:\n- path: /m\n  exporters:\n  - name: basic\n    http: http://{s}/basic\n    basic_auth:\n      username: prom\n      password_file: pass\n  - name: bearer\n    http: http://{s}/bearer\n    authorization:\n      credentials_file: token\n    headers:\n      X-Scope-OrgID: tenant-7\n  - name: custom\n    http: http://{s}/custom\n    authorization: {{type: Token, credentials: inline-cred}}\n"
        ),
    );
    let p = promlet(&[&cfg]);
    let by_path = |path: &str| -> Seen {
        seen.lock()
            .unwrap()
            .iter()
            .rev()
            .find(|x| x.head.starts_with(&format!("GET {path} ")))
            .cloned()
            .unwrap_or_else(|| panic!("no request for {path}"))
    };
    let text = scrape(&p, "/m", "5").text();
    for n in ["basic", "bearer", "custom"] {
        assert_eq!(up(&text, n), Some(1.0), "{n}: {text}");
    }
    // "prom:s3cret-pass" in base64.
    assert_eq!(
        by_path("/basic").header("authorization").as_deref(),
        Some("Basic cHJvbTpzM2NyZXQtcGFzcw==")
    );
    let bearer = by_path("/bearer");
    assert_eq!(
        bearer.header("authorization").as_deref(),
        Some("Bearer t0ken-one")
    );
    assert_eq!(bearer.header("x-scope-orgid").as_deref(), Some("tenant-7"));
    assert_eq!(
        by_path("/custom").header("authorization").as_deref(),
        Some("Token inline-cred")
    );
    // A rotated token is sent at the next scrape.
    std::fs::write(dir.join("token"), "t0ken-two").unwrap();
    let text = scrape(&p, "/m", "5").text();
    assert_eq!(up(&text, "bearer"), Some(1.0), "{text}");
    assert_eq!(
        by_path("/bearer").header("authorization").as_deref(),
        Some("Bearer t0ken-two")
    );
    // A token file that goes away fails that exporter alone, naming the file only.
    std::fs::remove_file(dir.join("token")).unwrap();
    let text = scrape(&p, "/m", "5").text();
    assert_eq!(up(&text, "bearer"), Some(0.0), "{text}");
    assert_eq!(up(&text, "basic"), Some(1.0), "{text}");
    let log = p.log_text();
    assert!(log.contains("token"), "{log}");
    for secret in ["s3cret-pass", "t0ken-one", "t0ken-two", "inline-cred"] {
        assert!(!log.contains(secret), "{secret} logged:\n{log}");
    }
}

/// Issue 13: `tls_config` towards an https upstream that requires a client certificate: the
/// certificate is presented, `server_name` is the name sent and verified, `ca_file` (also
/// under its older place beside `http`) replaces the system roots, and
/// `insecure_skip_verify` accepts a certificate no root vouches for.
#[test]
fn https_upstreams_with_tls_config() {
    let ca = TestCa::new("proxy-tls-ca");
    let (s, seen) = tls_stub(&ca);
    let port = s.port();
    // Relative names, from the config file's folder (the CA's), not promlet's working one.
    let yaml = format!(
        "proxy:\n- path: /m\n  exporters:\n\
         \x20 - name: mtls\n    http: https://127.0.0.1:{port}/mtls\n    tls_config:\n      ca_file: ca.pem\n      cert_file: client.pem\n      key_file: client.key\n      server_name: localhost\n\
         \x20 - name: alias\n    http: https://127.0.0.1:{port}/alias\n    ca_file: ca.pem\n    tls_config: {{cert_file: client.pem, key_file: client.key}}\n\
         \x20 - name: wrong_name\n    http: https://127.0.0.1:{port}/wrong\n    tls_config: {{ca_file: ca.pem, cert_file: client.pem, key_file: client.key, server_name: other.example}}\n\
         \x20 - name: no_cert\n    http: https://127.0.0.1:{port}/nocert\n    tls_config: {{ca_file: ca.pem}}\n\
         \x20 - name: untrusted\n    http: https://127.0.0.1:{port}/untrusted\n    tls_config: {{cert_file: client.pem, key_file: client.key}}\n\
         \x20 - name: insecure\n    http: https://127.0.0.1:{port}/insecure\n    tls_config: {{cert_file: client.pem, key_file: client.key, insecure_skip_verify: true}}\n"
    );
    let cfg = write_config(&ca.dir, &yaml);
    let p = promlet(&[&cfg]);
    let text = scrape(&p, "/m", "5").text();
    promtool_check_metrics(&text);
    for (n, want) in [
        ("mtls", 1.0),
        ("alias", 1.0),
        ("wrong_name", 0.0),
        ("no_cert", 0.0),
        ("untrusted", 0.0),
        ("insecure", 1.0),
    ] {
        assert_eq!(up(&text, n), Some(want), "{n}: {text}");
    }
    assert!(text.contains("stub{exporter_name=\"mtls\"} 1\n"), "{text}");
    let seen = seen.lock().unwrap().clone();
    let of = |path: &str| {
        seen.iter()
            .find(|x| x.head.starts_with(&format!("GET {path} ")))
            .cloned()
    };
    let mtls = of("/mtls").expect("mtls request");
    assert!(mtls.client_cert);
    assert_eq!(mtls.sni.as_deref(), Some("localhost"));
    // An IP address is never sent as SNI.
    assert_eq!(of("/alias").expect("alias request").sni, None);
    assert!(of("/insecure").expect("insecure request").client_cert);
    for refused in ["/wrong", "/nocert", "/untrusted"] {
        assert!(of(refused).is_none(), "{refused} got through");
    }
    let log = p.log_text();
    // Each refusal is for the reason the test means.
    for (n, why) in [
        ("wrong_name", "not valid for name \\\"other.example\\\""),
        ("no_cert", "CertificateRequired"),
        ("untrusted", "UnknownIssuer"),
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("exporter {n} of path")) && l.contains("is down"))
            .unwrap_or_else(|| panic!("no failure logged for {n}: {log}"));
        assert!(line.contains(why), "{n}: want {why:?} in {line}");
    }
    assert_eq!(
        log.matches("insecure_skip_verify").count(),
        1,
        "warned once: {log}"
    );
}

/// Issue 13: mistakes in an exporter's credentials or TLS settings stop promlet at start
/// with the file and line.
#[test]
fn bad_upstream_credentials_stop_promlet_with_file_and_line() {
    let dir = tempdir("proxy-credentials-config");
    let cases = [
        ("proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: http://h/\n    headers:\n      Content-Length: '5'\n", ":7: exporter \"a\": headers: Content-Length is reserved"),
        ("proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: http://h/\n    basic_auth: {username: u, pasword: p}\n", ":6:"),
        ("proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: https://h/\n    tls_config: {cert_file: missing.pem, key_file: missing.key}\n", ":4: exporter \"a\": "),
        ("proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: https://h/\n    tls_config: {insecure_skip_verfy: true}\n", ":6:"),
    ];
    for (i, (yaml, want)) in cases.iter().enumerate() {
        let f = dir.join(format!("c{i}.yml"));
        std::fs::write(&f, yaml).unwrap();
        let out = Command::new(promlet_bin())
            .arg(format!("--config.file={}", f.display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .output()
            .unwrap();
        // The log line is logfmt: its quotes are escaped.
        let err = String::from_utf8_lossy(&out.stderr).replace("\\\"", "\"");
        assert_eq!(out.status.code(), Some(1), "{yaml}\n{err}");
        let want = format!("{}{want}", f.display());
        assert!(err.contains(&want), "want {want:?} in:\n{err}");
    }
    // The missing certificate is named by its full path, under the config's folder.
    let err = String::from_utf8_lossy(
        &Command::new(promlet_bin())
            .arg(format!("--config.file={}", dir.join("c2.yml").display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .output()
            .unwrap()
            .stderr,
    )
    .into_owned();
    assert!(
        err.contains(&dir.join("missing.pem").display().to_string()),
        "{err}"
    );
}
