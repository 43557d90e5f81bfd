//! `--web.config.file` end to end: a real Prometheus 2.42 scrapes a merged path over TLS with a
//! client certificate and basic auth; curl without a certificate, with a wrong password or with
//! TLS 1.1 is refused; bad files stop promlet at start (case 25 of
//! `docs/merging-proxy.md` and the exporter-toolkit format).
#![cfg(all(feature = "tls", feature = "proxy", feature = "yaml"))]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const USER: &str = "prom";
const PASSWORD: &str = "s3cret pass";

fn hash(pw: &str) -> String {
    // Cost 4 keeps the test fast; the format is what htpasswd -B writes.
    bcrypt::hash_with_salt(pw, 4, [3u8; 16])
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// curl with extra args against promlet; returns (exit code, http status or 0, body).
fn curl(args: &[&str], url: &str) -> (i32, u16, String) {
    let curl = require_tool("curl", "curl");
    let out = Command::new(curl)
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "20"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        out.status.code().unwrap_or(-1),
        code.trim().parse().unwrap_or(0),
        body.to_string(),
    )
}

struct Setup {
    ca: TestCa,
    promlet: Proc,
    _node: Proc,
}

fn start(client_auth: &str) -> Setup {
    let ca = TestCa::new("webcfg");
    let dir = &ca.dir;
    let node_bin = require_tool("prometheus-node-exporter", "prometheus-node-exporter");
    let naddr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let node = spawn_listening(
        &node_bin,
        &[format!("--web.listen-address={naddr}")],
        naddr,
        "node_exporter",
    );
    let file = write(
        dir,
        "site.prom",
        "# TYPE site_info gauge\nsite_info{site=\"r1\"} 1\n",
    );
    let cfg = write(
        dir,
        "promlet.yml",
        &format!(
            "proxy:\n- path: /merged\n  exporters:\n  - name: node\n    http: http://{naddr}/metrics\n  - name: site\n    file: {file}\n"
        ),
    );
    let client_ca = if client_auth.is_empty() {
        String::new()
    } else {
        format!(
            "  client_auth_type: {client_auth}\n  client_ca_file: {}\n",
            ca.ca_cert.display()
        )
    };
    let web = write(
        dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n{client_ca}  min_version: TLS12\nbasic_auth_users:\n  {USER}: {}\n",
            ca.server_cert.display(),
            ca.server_key.display(),
            hash(PASSWORD)
        ),
    );
    let promlet = promlet(&[
        &format!("--config.file={cfg}"),
        &format!("--web.config.file={web}"),
    ]);
    Setup {
        ca,
        promlet,
        _node: node,
    }
}

#[test]
fn prometheus_scrapes_merged_path_over_tls_with_client_cert_and_basic_auth() {
    let s = start("RequireAndVerifyClientCert");
    let ca = &s.ca;
    let prom = Prometheus::start(&format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n- job_name: merged\n  scheme: https\n  metrics_path: /merged\n  tls_config:\n    ca_file: {}\n    cert_file: {}\n    key_file: {}\n  basic_auth:\n    username: {USER}\n    password: '{PASSWORD}'\n  static_configs:\n  - targets: ['{}']\n",
        ca.ca_cert.display(),
        ca.client_cert.display(),
        ca.client_key.display(),
        s.promlet.addr
    ));
    // The API answers 503 until the TSDB is open.
    wait_for(Duration::from_secs(30), || {
        (http_get(prom.proc.addr, "/-/ready").status == 200).then_some(())
    })
    .expect("prometheus never became ready");
    prom.wait_query("up{job=\"merged\"} == 1", Duration::from_secs(30));
    prom.wait_query(
        "promlet_exporter_up{job=\"merged\",exporter_name=\"node\"} == 1",
        Duration::from_secs(30),
    );
    // Every stored series carries exporter_name, except what Prometheus writes itself.
    let without = prom.query("{job=\"merged\",exporter_name=\"\"}");
    for v in &without {
        let name = v["metric"]["__name__"].as_str().unwrap_or("");
        assert!(
            name == "up" || name.starts_with("scrape_"),
            "series without exporter_name: {v}"
        );
    }
    let by = prom.query("count by (exporter_name) ({job=\"merged\",exporter_name!=\"\"})");
    let names: Vec<&str> = by
        .iter()
        .filter_map(|v| v["metric"]["exporter_name"].as_str())
        .collect();
    assert!(names.contains(&"node") && names.contains(&"site"), "{by:?}");
    let site = prom.query("site_info{exporter_name=\"site\",site=\"r1\"}");
    assert_eq!(site.len(), 1);
}

#[test]
fn clients_without_certificate_or_password_are_refused() {
    let s = start("RequireAndVerifyClientCert");
    let ca = &s.ca;
    let url = format!("https://{}/merged", s.promlet.addr);
    let cacert = ca.ca_cert.display().to_string();
    let cert = ca.client_cert.display().to_string();
    let key = ca.client_key.display().to_string();
    let good_user = format!("{USER}:{PASSWORD}");
    // Everything right.
    let (rc, code, body) = curl(
        &[
            "--cacert", &cacert, "--cert", &cert, "--key", &key, "-u", &good_user,
        ],
        &url,
    );
    assert_eq!((rc, code), (0, 200), "{body}");
    assert!(body.contains("exporter_name=\"node\""));
    // No client certificate: the handshake fails (no HTTP status at all).
    let (rc, code, _) = curl(&["--cacert", &cacert, "-u", &good_user], &url);
    assert_ne!(rc, 0);
    assert_eq!(code, 0);
    // Wrong password, and none: 401 with a challenge.
    let (rc, code, _) = curl(
        &[
            "--cacert",
            &cacert,
            "--cert",
            &cert,
            "--key",
            &key,
            "-u",
            "prom:wrong",
        ],
        &url,
    );
    assert_eq!((rc, code), (0, 401));
    let (_, code, _) = curl(&["--cacert", &cacert, "--cert", &cert, "--key", &key], &url);
    assert_eq!(code, 401);
    let out = Command::new(require_tool("curl", "curl"))
        .args([
            "-s",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "--cacert",
            &cacert,
            "--cert",
            &cert,
            "--key",
            &key,
            &url,
        ])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.contains("www-authenticate: basic"), "{head}");
    // TLS 1.1 and below are refused (min_version TLS12); 1.2 works.
    let (rc, _, _) = curl(
        &[
            "--cacert",
            &cacert,
            "--cert",
            &cert,
            "--key",
            &key,
            "-u",
            &good_user,
            "--tlsv1.0",
            "--tls-max",
            "1.1",
        ],
        &url,
    );
    assert_ne!(rc, 0);
    let (rc, code, _) = curl(
        &[
            "--cacert",
            &cacert,
            "--cert",
            &cert,
            "--key",
            &key,
            "-u",
            &good_user,
            "--tls-max",
            "1.2",
        ],
        &url,
    );
    assert_eq!((rc, code), (0, 200));
    // A certificate from another CA is refused too.
    let other = TestCa::new("webcfg-other");
    let (rc, code, _) = curl(
        &[
            "--cacert",
            &cacert,
            "--cert",
            &other.client_cert.display().to_string(),
            "--key",
            &other.client_key.display().to_string(),
            "-u",
            &good_user,
        ],
        &url,
    );
    assert!(
        rc != 0 && code == 0,
        "foreign client cert accepted: rc {rc} code {code}"
    );
    // Plain HTTP on the TLS port gets nothing useful.
    let (_, code, _) = curl(&[], &format!("http://{}/merged", s.promlet.addr));
    assert_ne!(code, 200);
}

#[test]
fn cert_and_key_without_client_ca_start_and_serve() {
    // AnchorFree's reverse_exporter panics here; promlet must just serve TLS.
    let s = start("");
    let url = format!("https://{}/metrics", s.promlet.addr);
    let cacert = s.ca.ca_cert.display().to_string();
    let (rc, code, body) = curl(
        &["--cacert", &cacert, "-u", &format!("{USER}:{PASSWORD}")],
        &url,
    );
    assert_eq!((rc, code), (0, 200), "{body}");
    promtool_check_metrics(&body);
}

#[test]
fn bad_web_configs_refuse_to_start_with_file_and_line() {
    let dir = tempdir("webcfg-bad");
    let cases = [
        (
            "basic_auth_users:\n  a: notahash\n",
            "basic_auth_users",
            ":1:",
        ),
        (
            "tls_server_config:\n  cert_file: x\n  key_file: y\n  min_versoin: TLS12\n",
            "unknown field",
            ":4:",
        ),
        ("tls_srever_config: {}\n", "unknown field", ":1:"),
        (
            "tls_server_config:\n  cert_file: /nonexistent.pem\n  key_file: /nonexistent.key\n",
            "nonexistent",
            ":2:",
        ),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
            "not supported",
            ":2:",
        ),
    ];
    for (i, (text, want, line)) in cases.iter().enumerate() {
        let f = dir.join(format!("web{i}.yml"));
        std::fs::write(&f, text).unwrap();
        let out = Command::new(promlet_bin())
            .arg(format!("--web.config.file={}", f.display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}\n{err}");
        assert!(err.contains(want), "want {want:?}:\n{err}");
        let at = format!("{}{line}", f.display());
        assert!(err.contains(&at), "want {at:?}:\n{err}");
    }
    // TLS 1.0 is refused, not silently raised.
    let ca = TestCa::new("webcfg-v");
    let f = dir.join("old.yml");
    std::fs::write(
        &f,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  min_version: TLS10\n",
            ca.server_cert.display(),
            ca.server_key.display()
        ),
    )
    .unwrap();
    let out = Command::new(promlet_bin())
        .arg(format!("--web.config.file={}", f.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLS10 is not supported"));
}

#[test]
fn basic_auth_without_tls() {
    let dir = tempdir("webcfg-plain");
    let web = write(
        &dir,
        "web.yml",
        &format!("basic_auth_users:\n  {USER}: {}\n", hash(PASSWORD)),
    );
    let p = promlet(&[&format!("--web.config.file={web}")]);
    let url = format!("http://{}/metrics", p.addr);
    let (_, code, _) = curl(&[], &url);
    assert_eq!(code, 401);
    let (_, code, _) = curl(&["-u", &format!("{USER}:{PASSWORD}")], &url);
    assert_eq!(code, 200);
    let (_, code, _) = curl(&["-u", &format!("other:{PASSWORD}")], &url);
    assert_eq!(code, 401);
    // Garbage in the header is a 401, not a crash.
    let r = http_request(
        p.addr,
        "GET",
        "/metrics",
        &[("Authorization", "Basic !!!not base64")],
    );
    assert_eq!(r.status, 401);
    let r = http_request(p.addr, "GET", "/metrics", &[("Authorization", "Bearer x")]);
    assert_eq!(r.status, 401);
}

#[test]
fn require_any_client_cert_takes_any_certificate_but_not_none() {
    let s = start("RequireAnyClientCert");
    let url = format!("https://{}/metrics", s.promlet.addr);
    let cacert = s.ca.ca_cert.display().to_string();
    let user = format!("{USER}:{PASSWORD}");
    let other = TestCa::new("webcfg-any");
    let (rc, code, _) = curl(
        &[
            "--cacert",
            &cacert,
            "--cert",
            &other.client_cert.display().to_string(),
            "--key",
            &other.client_key.display().to_string(),
            "-u",
            &user,
        ],
        &url,
    );
    assert_eq!((rc, code), (0, 200), "a certificate from any CA is enough");
    let (rc, code, _) = curl(&["--cacert", &cacert, "-u", &user], &url);
    assert!(
        rc != 0 && code == 0,
        "no certificate must fail the handshake"
    );
}

#[test]
fn client_allowed_sans_refuses_a_certificate_without_them() {
    let ca = TestCa::new("webcfg-sans");
    let dir = &ca.dir;
    let web = write(
        dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n  client_allowed_sans: [prometheus.example.org]\n",
            ca.server_cert.display(),
            ca.server_key.display(),
            ca.ca_cert.display()
        ),
    );
    let p = promlet(&[&format!("--web.config.file={web}")]);
    let url = format!("https://{}/metrics", p.addr);
    // TestCa's client certificate is valid but names no SAN at all.
    let (rc, code, _) = curl(
        &[
            "--cacert",
            &ca.ca_cert.display().to_string(),
            "--cert",
            &ca.client_cert.display().to_string(),
            "--key",
            &ca.client_key.display().to_string(),
        ],
        &url,
    );
    assert!(
        code != 200,
        "certificate without an allowed SAN was served (rc {rc})"
    );
}

/// An `https://` upstream, verified against `ca_file`: one promlet serving TLS, merged by
/// another; a wrong CA makes that exporter fail instead of trusting it.
#[test]
fn https_upstreams_are_verified_against_ca_file() {
    let ca = TestCa::new("webcfg-upstream");
    let dir = &ca.dir;
    let web = write(
        dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            ca.server_cert.display(),
            ca.server_key.display()
        ),
    );
    let upstream = promlet(&[&format!("--web.config.file={web}")]);
    let other = TestCa::new("webcfg-upstream-other");
    let cfg = write(
        dir,
        "promlet.yml",
        &format!(
            "proxy:\n- path: /m\n  exporters:\n  - name: good\n    http: https://{a}/metrics\n    ca_file: {ca}\n  - name: wrongca\n    http: https://{a}/metrics\n    ca_file: {other}\n",
            a = upstream.addr,
            ca = ca.ca_cert.display(),
            other = other.ca_cert.display()
        ),
    );
    let p = promlet(&[&format!("--config.file={cfg}")]);
    let r = http_request(
        p.addr,
        "GET",
        "/m",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "10")],
    );
    let text = r.text();
    promtool_check_metrics(&text);
    assert!(
        text.contains("promlet_exporter_up{exporter_name=\"good\"} 1\n"),
        "{text}\n{}",
        p.log_text()
    );
    assert!(
        text.contains("promlet_exporter_up{exporter_name=\"wrongca\"} 0\n"),
        "{text}"
    );
    assert!(text.contains("promlet_build_info{") && text.contains("exporter_name=\"good\""));
}

/// promlet serving TLS with the test CA's server certificate; no client certificate, no auth.
fn tls_promlet(name: &str, extra: &[&str]) -> (TestCa, Proc) {
    let ca = TestCa::new(name);
    let web = write(
        &ca.dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            ca.server_cert.display(),
            ca.server_key.display()
        ),
    );
    let flag = format!("--web.config.file={web}");
    let mut args = vec![flag.as_str()];
    args.extend(extra);
    let p = promlet(&args);
    (ca, p)
}

#[test]
fn stalled_tls_handshakes_hold_no_worker() {
    use std::io::Write;
    // Two workers, ten clients that start a ClientHello and stall: when the handshake ran in a
    // worker, each held one until its read timed out, and the scrape waited behind them.
    let (ca, p) = tls_promlet("webcfg-stall", &["--web.max-requests=2"]);
    let mut stalled = Vec::new();
    for _ in 0..10 {
        let mut s = std::net::TcpStream::connect(p.addr).unwrap();
        s.write_all(b"\x16\x03\x01\x02\x00\x01").unwrap();
        stalled.push(s);
    }
    let url = format!("https://{}/metrics", p.addr);
    let cacert = ca.ca_cert.display().to_string();
    let (rc, code, body) = curl(&["--cacert", &cacert, "--max-time", "5"], &url);
    assert_eq!(
        (rc, code),
        (0, 200),
        "TLS scrape not answered within 5 s while handshakes stall: {body}"
    );
    drop(stalled);
}

#[test]
fn dripped_tls_handshake_is_closed_at_the_total_deadline() {
    use std::io::{Read, Write};
    let (_ca, p) = tls_promlet("webcfg-drip", &[]);
    let mut s = std::net::TcpStream::connect(p.addr).unwrap();
    // A record header announcing a 16 KiB ClientHello, then ten bytes a second (paced by the
    // read timeout): each byte used to reset the server's read timeout, so this never ended.
    s.write_all(b"\x16\x03\x01\x40\x00\x01").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let start = std::time::Instant::now();
    let mut closed = false;
    while start.elapsed() < Duration::from_secs(30) {
        if s.write_all(b"\0").is_err() {
            closed = true;
            break;
        }
        let mut b = [0u8; 256];
        match s.read(&mut b) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(
        closed,
        "a handshake dripping ten bytes a second was kept for 30 s"
    );
}
