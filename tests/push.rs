//! Push mode against real receivers started here: Debian's Prometheus 2.42 with
//! `--web.enable-remote-write-receiver` and Debian's VictoriaMetrics, whose HTTP APIs show
//! what promlet pushed (so the encoder is proven by real decoders, not by promlet's own);
//! an outage of the receiver that must lose nothing; and stub receivers that answer 400, 500
//! or never answer.
#![cfg(feature = "push")]

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A small, quick collector set, so each push is a few dozen samples.
const COLLECTORS: &[&str] = &[
    "--collector.disable-defaults",
    "--collector.loadavg",
    "--collector.meminfo",
];

/// A config pushing every second to `remote`; `extra` is more JSON keys of the remote
/// (starting with a comma), `queue` more keys of its queue_config.
fn config_with(dir: &Path, remote: &str, queue: &str, extra: &str) -> PathBuf {
    let f = dir.join("promlet.json");
    std::fs::write(&f, config_text(remote, queue, extra, "lab", "")).unwrap();
    f
}

/// The text of [`config_with`]'s file, with the `site` external label and more keys of the
/// push section (starting with a comma).
fn config_text(remote: &str, queue: &str, extra: &str, site: &str, push: &str) -> String {
    format!(
        r#"{{"global": {{"scrape_interval": "1s", "external_labels": {{"site": "{site}"}}}},
            "remote_write": [{{"url": "{remote}", "name": "test",
                "queue_config": {{"min_backoff": "50ms", "max_backoff": "500ms"{queue}}}{extra}}}],
            "push": {{"instance": "box"{push}}}}}"#
    )
}

fn config(dir: &Path, remote: &str, extra: &str) -> PathBuf {
    config_with(dir, remote, "", extra)
}

fn start_promlet(cfg: &Path) -> Proc {
    let flag = format!("--config.file={}", cfg.display());
    let mut args: Vec<&str> = COLLECTORS.to_vec();
    args.push(&flag);
    promlet(&args)
}

/// One of promlet's own metrics, summed over its series.
fn own(p: &Proc, name: &str, labels: &str) -> f64 {
    http_get(p.addr, "/metrics")
        .text()
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[cfg(feature = "node")]
#[test]
fn prometheus_receiver_stores_the_series_with_target_and_external_labels() {
    let prom = Prometheus::start_with(
        "global:\n  scrape_interval: 15s\n",
        &["--web.enable-remote-write-receiver"],
    );
    let dir = tempdir("push-prom");
    let cfg = config(&dir, &format!("http://{}/api/v1/write", prom.proc.addr), "");
    let p = start_promlet(&cfg);
    let got = prom.wait_query(
        "node_load1{job=\"node\",instance=\"box\",site=\"lab\"}",
        Duration::from_secs(30),
    );
    assert_eq!(got.len(), 1, "{got:?}\n{}", p.log_text());
    let up = prom.wait_query(
        "up{job=\"node\",instance=\"box\",site=\"lab\"} == 1",
        Duration::from_secs(30),
    );
    assert_eq!(up.len(), 1);
    let n = prom.wait_query(
        "scrape_samples_scraped{job=\"node\",instance=\"box\"} > 10",
        Duration::from_secs(30),
    );
    assert_eq!(n.len(), 1);
    promtool_check_metrics(&http_get(p.addr, "/metrics").text());
    // promlet's own metrics are pushed too (they are on /metrics).
    prom.wait_query(
        "promlet_remote_write_samples_sent_total{remote=\"test\",job=\"node\"} > 0",
        Duration::from_secs(30),
    );
    assert_eq!(
        own(&p, "promlet_remote_write_samples_dropped_total", ""),
        0.0
    );
}

/// Debian's VictoriaMetrics single-node, on a port and data directory of its own.
struct Victoria {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
    /// Serving https with the test CA's server certificate (queried with curl).
    ca: Option<PathBuf>,
}

impl Victoria {
    fn start(addr: SocketAddr, dir: &Path) -> Victoria {
        Victoria::launch(addr, dir, None)
    }

    /// Serving https only, with `ca`'s server certificate.
    #[cfg(all(feature = "tls", feature = "node"))]
    fn start_tls(addr: SocketAddr, dir: &Path, ca: &TestCa) -> Victoria {
        Victoria::launch(addr, dir, Some(ca))
    }

    fn launch(addr: SocketAddr, dir: &Path, tls: Option<&TestCa>) -> Victoria {
        let bin = require_tool("victoria-metrics", "victoria-metrics");
        let log = std::fs::File::create(dir.join("vm.log")).unwrap();
        let mut cmd = Command::new(bin);
        if let Some(ca) = tls {
            cmd.arg("-tls")
                .arg(format!("-tlsCertFile={}", ca.server_cert.display()))
                .arg(format!("-tlsKeyFile={}", ca.server_key.display()));
        }
        let child = cmd
            .arg(format!("-httpListenAddr={addr}"))
            .arg(format!("-storageDataPath={}", dir.join("data").display()))
            // Answer queries with the newest data, not with data 30 s old.
            .arg("-search.latencyOffset=0s")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let v = Victoria {
            child,
            addr,
            dir: dir.to_path_buf(),
            ca: tls.map(|c| c.ca_cert.clone()),
        };
        wait_for(Duration::from_secs(30), || {
            TcpStream::connect(addr)
                .ok()
                .and_then(|_| (v.get("/health").0 == 200).then_some(()))
        })
        .unwrap_or_else(|| {
            panic!(
                "victoria-metrics did not start:\n{}",
                std::fs::read_to_string(dir.join("vm.log")).unwrap_or_default()
            )
        });
        v
    }

    /// GET `path`: (status, body); over https with curl when serving https.
    fn get(&self, path: &str) -> (u16, String) {
        let Some(ca) = &self.ca else {
            let r = http_get(self.addr, path);
            return (r.status, r.text());
        };
        let curl = require_tool("curl", "curl");
        let out = Command::new(curl)
            .args(["-s", "--max-time", "10", "-w", "\n%{http_code}", "--cacert"])
            .arg(ca)
            .arg(format!("https://localhost:{}{path}", self.addr.port()))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// SIGTERM, so it writes what it holds in memory to disk, as a service stop would.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        if wait_for(Duration::from_secs(20), || {
            self.child.try_wait().ok().flatten()
        })
        .is_none()
        {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Raw samples of the series matching `selector`: (labels JSON, timestamps ms).
    fn export(&self, selector: &str) -> Vec<(serde_json::Value, Vec<i64>)> {
        let _ = self.get("/internal/force_flush");
        let enc: String = selector
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let (status, text) = self.get(&format!("/api/v1/export?match[]={enc}"));
        assert_eq!(status, 200, "{text}");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let ts = v["timestamps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_i64().unwrap())
                    .collect();
                (v["metric"].clone(), ts)
            })
            .collect()
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        self.stop();
        let _ = &self.dir;
    }
}

#[test]
fn outage_of_victoria_metrics_loses_nothing() {
    let dir = tempdir("push-vm");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut vm = Victoria::start(addr, &dir);
    let cfg = config(&dir, &format!("http://{addr}/api/v1/write"), "");
    let p = start_promlet(&cfg);
    wait_for(Duration::from_secs(30), || {
        (!vm.export("up{job=\"node\",instance=\"box\",site=\"lab\"}")
            .is_empty())
        .then_some(())
    })
    .expect("no samples reached victoria-metrics");
    // The receiver goes away for several push intervals, then comes back.
    let wall_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    vm.stop();
    let down = Instant::now();
    let down_ms = wall_ms();
    wait_for(Duration::from_secs(30), || {
        (own(&p, "promlet_remote_write_samples_retried_total", "") > 0.0
            && down.elapsed() > Duration::from_secs(6))
        .then_some(())
    })
    .expect("promlet never retried");
    let queued = own(&p, "promlet_remote_write_queue_samples", "");
    assert!(queued > 0.0, "nothing queued during the outage");
    let vm = Victoria::start(addr, &dir);
    let up_ms = wall_ms();
    wait_for(Duration::from_secs(30), || {
        (own(&p, "promlet_remote_write_queue_samples", "") == 0.0).then_some(())
    })
    .expect("queue never drained");
    // Until a sample gathered after the receiver came back is stored.
    let up = wait_for(Duration::from_secs(30), || {
        let up = vm.export("up{job=\"node\",instance=\"box\"}");
        let newest = up.first().and_then(|(_, ts)| ts.last().copied());
        newest.filter(|t| *t > up_ms).map(|_| up)
    })
    .expect("nothing stored after the receiver came back");
    assert_eq!(up.len(), 1, "{up:?}");
    let ts = &up[0].1;
    // One sample per second from the first to the last, the outage included: no gap.
    let gaps: Vec<i64> = ts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 1600)
        .collect();
    assert!(gaps.is_empty(), "gaps (ms) in up: {gaps:?} of {ts:?}");
    // ... and they span the outage, every second of it.
    assert!(
        ts[0] < down_ms && *ts.last().unwrap() > up_ms,
        "samples {ts:?} do not cover the outage {down_ms}..{up_ms}"
    );
    let during = ts.iter().filter(|t| (down_ms..up_ms).contains(t)).count() as i64;
    assert!(
        during >= (up_ms - down_ms) / 1000 - 1,
        "{during} samples during an outage of {} ms: {ts:?}",
        up_ms - down_ms
    );
    assert_eq!(
        own(&p, "promlet_remote_write_samples_dropped_total", ""),
        0.0
    );
}

/// The connections the receiver has accepted so far (its own counter).
#[cfg(all(feature = "tls", feature = "node"))]
fn accepted(vm: &Victoria) -> f64 {
    let (status, text) = vm.get("/metrics");
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| l.starts_with("vm_tcplistener_accepts_total"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[cfg(all(feature = "tls", feature = "node"))]
#[test]
fn https_remote_with_a_private_ca_on_one_kept_connection() {
    let dir = tempdir("push-vm-tls");
    let ca = TestCa::new("push-tls");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let vm = Victoria::start_tls(addr, &dir, &ca);
    let tls = format!(
        r#", "tls_config": {{"ca_file": "{}"}}"#,
        ca.ca_cert.display()
    );
    let cfg = config(
        &dir,
        &format!("https://localhost:{}/api/v1/write", addr.port()),
        &tls,
    );
    let p = start_promlet(&cfg);
    wait_for(Duration::from_secs(30), || {
        (!vm.export("node_load1{job=\"node\",instance=\"box\",site=\"lab\"}")
            .is_empty())
        .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "nothing reached victoria-metrics over https\n{}",
            p.log_text()
        )
    });
    // Pushes every second go over the connection promlet keeps: over six seconds the
    // receiver accepts this test's own two queries and no new connection of promlet's
    // (one more is allowed, should the receiver close an idle one).
    let sent = own(&p, "promlet_remote_write_samples_sent_total", "");
    let before = accepted(&vm);
    std::thread::sleep(Duration::from_secs(6));
    let after = accepted(&vm);
    let sent_since = own(&p, "promlet_remote_write_samples_sent_total", "") - sent;
    assert!(
        sent_since > 0.0,
        "nothing sent in six seconds\n{}",
        p.log_text()
    );
    assert!(
        after - before <= 2.0,
        "{} connections accepted over six one-second pushes\n{}",
        after - before,
        p.log_text()
    );
    assert_eq!(
        own(&p, "promlet_remote_write_samples_dropped_total", ""),
        0.0
    );
}

/// A stub receiver: answers every request with `answer` (None: reads it and never answers),
/// keeps every request body.
struct Stub {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    connections: Arc<Mutex<usize>>,
}

fn stub(answer: Option<&'static str>) -> Stub {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(Mutex::new(0));
    let (b, c) = (bodies.clone(), connections.clone());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            *c.lock().unwrap() += 1;
            let b = b.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                b.lock().unwrap().push(body);
                match answer {
                    Some(a) => {
                        let _ = (&s).write_all(a.as_bytes());
                    }
                    None => std::thread::sleep(Duration::from_secs(30)),
                }
            });
        }
    });
    Stub {
        addr,
        bodies,
        connections,
    }
}

#[test]
fn rejected_batches_are_dropped_and_not_retried() {
    let s = stub(Some(
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 21\r\nConnection: close\r\n\r\nout of order sample\r\n",
    ));
    let dir = tempdir("push-400");
    let cfg = config(&dir, &format!("http://{}/api/v1/write", s.addr), "");
    let p = start_promlet(&cfg);
    wait_for(Duration::from_secs(20), || {
        (s.bodies.lock().unwrap().len() >= 4).then_some(())
    })
    .expect("no requests");
    let bodies = s.bodies.lock().unwrap().clone();
    // Every request is a new batch: none was sent again.
    for (i, b) in bodies.iter().enumerate() {
        assert!(!bodies[..i].contains(b), "batch {i} was sent twice");
    }
    assert!(
        own(
            &p,
            "promlet_remote_write_samples_dropped_total",
            "reason=\"rejected\""
        ) > 0.0
    );
    assert_eq!(
        own(&p, "promlet_remote_write_samples_retried_total", ""),
        0.0
    );
    assert!(
        p.log_text().contains("out of order sample"),
        "{}",
        p.log_text()
    );
}

#[test]
fn failing_batches_are_dropped_after_the_maximum_age() {
    let s = stub(Some(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 15\r\nConnection: close\r\n\r\ntoo old sample\n",
    ));
    let dir = tempdir("push-500");
    let cfg = config_with(
        &dir,
        &format!("http://{}/api/v1/write", s.addr),
        r#", "max_sample_age": "2s""#,
        "",
    );
    let p = start_promlet(&cfg);
    wait_for(Duration::from_secs(30), || {
        (own(
            &p,
            "promlet_remote_write_samples_dropped_total",
            "reason=\"too_old\"",
        ) > 0.0)
            .then_some(())
    })
    .expect("a failing batch was never given up");
    // The queue moves on: later batches are tried too.
    wait_for(Duration::from_secs(30), || {
        let b = s.bodies.lock().unwrap();
        let distinct = b
            .iter()
            .enumerate()
            .filter(|(i, x)| !b[..*i].contains(x))
            .count();
        (distinct >= 3).then_some(())
    })
    .expect("the queue is stuck behind the first batch");
}

#[test]
fn receiver_that_never_answers_is_bounded_by_remote_timeout() {
    let s = stub(None);
    let dir = tempdir("push-hang");
    let cfg = config(
        &dir,
        &format!("http://{}/api/v1/write", s.addr),
        r#", "remote_timeout": "1s""#,
    );
    let p = start_promlet(&cfg);
    // Each attempt gives up after a second and the next one opens a new connection.
    wait_for(Duration::from_secs(20), || {
        (*s.connections.lock().unwrap() >= 3).then_some(())
    })
    .expect("promlet waited for an answer for ever");
    assert!(own(&p, "promlet_remote_write_samples_retried_total", "") > 0.0);
    assert_eq!(http_get(p.addr, "/metrics").status, 200);
}

#[cfg(feature = "node")]
#[test]
fn clean_stop_marks_every_series_stale() {
    let prom = Prometheus::start_with(
        "global:\n  scrape_interval: 15s\n",
        &["--web.enable-remote-write-receiver"],
    );
    let dir = tempdir("push-stale");
    let cfg = config(&dir, &format!("http://{}/api/v1/write", prom.proc.addr), "");
    let mut p = start_promlet(&cfg);
    prom.wait_query(
        "up{job=\"node\",instance=\"box\"} == 1",
        Duration::from_secs(30),
    );
    let st = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let exit = wait_for(Duration::from_secs(20), || {
        p.child.try_wait().ok().flatten()
    })
    .expect("promlet did not stop on SIGTERM");
    assert!(exit.success(), "{exit}: {}", p.log_text());
    // A stale marker ends a series at once: an instant query no longer returns it.
    let gone = wait_for(Duration::from_secs(20), || {
        (prom.query("up{job=\"node\",instance=\"box\"}").is_empty()
            && prom
                .query("node_load1{job=\"node\",instance=\"box\"}")
                .is_empty())
        .then_some(())
    });
    assert!(
        gone.is_some(),
        "series still there after the stop:\n{}",
        p.log_text()
    );
    // It was the markers, not the 5-minute lookback: the samples are still stored.
    let stored = prom.query("count_over_time(up{job=\"node\",instance=\"box\"}[5m])");
    assert_eq!(stored.len(), 1, "{stored:?}");
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// SIGTERM, and waits for a clean exit.
fn terminate(p: &mut Proc) {
    // SAFETY: kill(2) on our own child, which is not reaped while `p` lives.
    unsafe { libc::kill(p.child.id() as i32, libc::SIGTERM) };
    let exit = wait_for(Duration::from_secs(20), || {
        p.child.try_wait().ok().flatten()
    })
    .expect("promlet did not stop on SIGTERM");
    assert!(exit.success(), "{exit}: {}", p.log_text());
}

/// Sends SIGHUP and waits until promlet has logged the outcome of the `n`-th reload.
fn sighup(p: &Proc, n: usize) -> String {
    // SAFETY: kill(2) on our own child, which is not reaped while `p` lives.
    unsafe { libc::kill(p.child.id() as i32, libc::SIGHUP) };
    wait_for(Duration::from_secs(10), || {
        let l = p.log_text();
        let done = l.matches("configuration reloaded").count() + l.matches("reload failed").count();
        (done >= n).then_some(l)
    })
    .unwrap_or_else(|| panic!("no reload logged:\n{}", p.log_text()))
}

/// Timestamps of `up` for the box, once one newer than `after` is stored.
fn up_after(vm: &Victoria, selector: &str, after: i64) -> Vec<i64> {
    wait_for(Duration::from_secs(30), || {
        let up = vm.export(selector);
        let newest = up.first().and_then(|(_, ts)| ts.last().copied());
        newest.filter(|t| *t > after).map(|_| up[0].1.clone())
    })
    .unwrap_or_else(|| panic!("nothing newer than {after} stored for {selector}"))
}

#[test]
fn spool_keeps_an_outage_across_a_restart_of_promlet() {
    let dir = tempdir("push-spool");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut vm = Victoria::start(addr, &dir);
    let spool = dir.join("spool");
    let cfg = dir.join("promlet.json");
    std::fs::write(
        &cfg,
        config_text(
            &format!("http://{addr}/api/v1/write"),
            "",
            "",
            "lab",
            r#", "spool_directory": "spool", "spool_max_bytes": 8388608"#,
        ),
    )
    .unwrap();
    let mut p = start_promlet(&cfg);
    up_after(&vm, "up{job=\"node\",instance=\"box\"}", 0);
    // The receiver goes away; promlet pushes into the void for several intervals, then is
    // stopped, with everything since the outage still queued.
    vm.stop();
    let down_ms = wall_ms();
    let down = Instant::now();
    wait_for(Duration::from_secs(30), || {
        (own(&p, "promlet_remote_write_samples_retried_total", "") > 0.0
            && down.elapsed() > Duration::from_secs(5))
        .then_some(())
    })
    .expect("promlet never retried");
    terminate(&mut p);
    let stop_ms = wall_ms();
    let files: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.len() == 1 && files[0].ends_with(".seg"),
        "{files:?}\n{}",
        p.log_text()
    );
    assert!(
        p.log_text().contains("written to the spool"),
        "{}",
        p.log_text()
    );
    // Receiver back, promlet started again on the same spool: the outage is sent first.
    let vm = Victoria::start(addr, &dir);
    let p = start_promlet(&cfg);
    let up_ms = wall_ms();
    wait_for(Duration::from_secs(30), || {
        (own(&p, "promlet_remote_write_spool_bytes", "") == 0.0
            && own(&p, "promlet_remote_write_queue_samples", "") == 0.0)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("spool never sent:\n{}", p.log_text()));
    assert!(
        p.log_text().contains("from before, sent first"),
        "{}",
        p.log_text()
    );
    let ts = up_after(&vm, "up{job=\"node\",instance=\"box\"}", up_ms);
    // Every second of the outage, while promlet ran, is stored.
    let during = ts.iter().filter(|t| (down_ms..stop_ms).contains(t)).count() as i64;
    assert!(
        during >= (stop_ms - down_ms) / 1000 - 1,
        "{during} samples during an outage of {} ms: {ts:?}",
        stop_ms - down_ms
    );
    let gaps: Vec<i64> = ts
        .iter()
        .filter(|t| **t < stop_ms)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 1600)
        .collect();
    assert!(
        gaps.is_empty(),
        "gaps (ms) before the stop: {gaps:?} of {ts:?}"
    );
    assert_eq!(
        own(&p, "promlet_remote_write_samples_dropped_total", ""),
        0.0
    );
    assert_eq!(own(&p, "promlet_remote_write_spool_errors_total", ""), 0.0);
    promtool_check_metrics(&http_get(p.addr, "/metrics").text());
}

#[test]
fn sighup_applies_new_labels_and_remotes_and_keeps_what_is_queued() {
    let dir = tempdir("push-hup");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let url = format!("http://{addr}/api/v1/write");
    // The receiver is not there yet: what promlet gathers waits in its queue.
    let cfg = config(&dir, &url, "");
    let p = start_promlet(&cfg);
    let start_ms = wall_ms();
    wait_for(Duration::from_secs(30), || {
        (own(&p, "promlet_remote_write_queue_samples", "") > 0.0
            && own(&p, "promlet_remote_write_samples_retried_total", "") > 0.0)
            .then_some(())
    })
    .expect("nothing queued");
    // Same url with a new external label, every 2 s, and a second remote.
    let second = stub(Some(
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let text = config_text(&url, "", "", "moved", "")
        .replace(r#""scrape_interval": "1s""#, r#""scrape_interval": "2s""#);
    let text = text.replacen(
        r#""remote_write": ["#,
        &format!(
            r#""remote_write": [{{"url": "http://{}/api/v1/write", "name": "second"}}, "#,
            second.addr
        ),
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let reload_ms = wall_ms();
    let log = sighup(&p, 1);
    assert!(log.contains("configuration reloaded"), "{log}");
    wait_for(Duration::from_secs(10), || {
        p.log_text().contains("every 2s to second").then_some(())
    })
    .unwrap_or_else(|| panic!("{}", p.log_text()));
    let vm = Victoria::start(addr, &dir);
    // What was queued before the reload arrives with the labels of its time...
    let old = up_after(&vm, "up{job=\"node\",instance=\"box\",site=\"lab\"}", 0);
    let before = old
        .iter()
        .filter(|t| (start_ms..reload_ms).contains(t))
        .count() as i64;
    assert!(
        before >= (reload_ms - start_ms) / 1000 - 1,
        "{before} samples queued before the reload ({} ms): {old:?}",
        reload_ms - start_ms
    );
    // ... and what was gathered after it with the new ones, to both remotes.
    let new = up_after(
        &vm,
        "up{job=\"node\",instance=\"box\",site=\"moved\"}",
        reload_ms,
    );
    assert!(new.iter().all(|t| *t >= reload_ms - 1000), "{new:?}");
    wait_for(Duration::from_secs(20), || {
        let bodies = second.bodies.lock().unwrap();
        bodies
            .iter()
            .any(|b| {
                let raw = snap::raw::Decoder::new().decompress_vec(b).unwrap();
                raw.windows(5).any(|w| w == b"moved")
            })
            .then_some(())
    })
    .expect("the new remote got nothing");
    assert_eq!(
        own(&p, "promlet_remote_write_samples_dropped_total", ""),
        0.0
    );
    assert!(
        own(
            &p,
            "promlet_remote_write_samples_sent_total",
            "remote=\"second\""
        ) > 0.0
    );
}

#[test]
fn sighup_with_a_bad_config_keeps_pushing_the_old_one() {
    let dir = tempdir("push-hup-bad");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let vm = Victoria::start(addr, &dir);
    let url = format!("http://{addr}/api/v1/write");
    let cfg = config(&dir, &url, "");
    let p = start_promlet(&cfg);
    up_after(&vm, "up{job=\"node\",instance=\"box\",site=\"lab\"}", 0);
    // Line 3 holds the mistake.
    std::fs::write(
        &cfg,
        format!(
            "{{\"global\": {{\"scrape_interval\": \"1s\", \"external_labels\": {{\"site\": \"bad\"}}}},\n\"remote_write\": [{{\"url\": \"{url}\",\n  \"remote_timeout\": \"soon\"}}]}}\n"
        ),
    )
    .unwrap();
    let log = sighup(&p, 1);
    let failed = log
        .lines()
        .find(|l| l.contains("reload failed"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        failed.contains(&format!("{}:3", cfg.display())) && failed.contains("remote_timeout"),
        "{failed}"
    );
    let after = wall_ms();
    up_after(&vm, "up{job=\"node\",instance=\"box\",site=\"lab\"}", after);
    assert!(vm.export("up{site=\"bad\"}").is_empty());
}
