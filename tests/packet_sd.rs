//! `promlet packet-sd` and the `/packet-sd` http_sd endpoint against a fake Packet / Equinix
//! Metal API on 127.0.0.1 (plain HTTP, or HTTPS with a throwaway CA), read by a real
//! Prometheus. The fake serves the research notes' fixtures (tests/fixtures/packet-sd/).

#![cfg(feature = "packet-sd")]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const TOKEN: &str = "test-token-3f9a";
const PROD: &str = "2f0a3c8e-5d7b-4a19-8c31-7be0f6a4d222";
const LAB: &str = "9b7d0e14-3c2a-4f58-a6e1-0d9c8b7a6f55";
const ORG: &str = "c7a4e1f2-8b3d-4c5e-9f60-1a2b3c4d5e6f";

// ---------------------------------------------------------------- the fake API

#[derive(Debug, Clone)]
struct Req {
    path: String,
    query: HashMap<String, String>,
    token: Option<String>,
    at: Instant,
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send the headers and half the body, then wait this long before the rest.
    stall: Option<Duration>,
}

impl Resp {
    fn json(v: &Value) -> Resp {
        Resp::raw(200, v.to_string())
    }
    fn raw(status: u16, body: impl Into<Vec<u8>>) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: body.into(),
            stall: None,
        }
    }
    fn error(status: u16, msg: &str) -> Resp {
        Resp::raw(status, serde_json::json!({ "error": msg }).to_string())
    }
}

type Handler = dyn Fn(&Req) -> Resp + Send + Sync;

struct FakeApi {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Req>>>,
    tls: bool,
}

impl FakeApi {
    fn start(handler: Arc<Handler>, tls: Option<&TestCa>) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let tls_cfg = tls.map(server_tls);
        let l2 = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(tcp) = conn else { continue };
                let (h, log, cfg) = (handler.clone(), l2.clone(), tls_cfg.clone());
                std::thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                    match cfg {
                        Some(cfg) => {
                            let conn = rustls::ServerConnection::new(cfg).unwrap();
                            let mut s = rustls::StreamOwned::new(conn, tcp);
                            serve_one(&mut s, &*h, &log);
                            s.conn.send_close_notify();
                            let _ = s.flush();
                        }
                        None => {
                            let mut s = tcp;
                            serve_one(&mut s, &*h, &log);
                        }
                    }
                });
            }
        });
        FakeApi {
            addr,
            log,
            tls: tls.is_some(),
        }
    }

    fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/metal/v1", self.addr)
    }

    fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }
}

fn server_tls(ca: &TestCa) -> Arc<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&ca.server_cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(&ca.server_key).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    Arc::new(cfg)
}

/// Reads one request head, answers it and closes (`Connection: close`).
fn serve_one(s: &mut (impl Read + Write), h: &Handler, log: &Mutex<Vec<Req>>) {
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let target = lines
        .next()
        .unwrap_or("")
        .split(' ')
        .nth(1)
        .unwrap_or("")
        .to_string();
    let mut token = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("x-auth-token") {
                token = Some(v.trim().to_string());
            }
        }
    }
    let (path, q) = target.split_once('?').unwrap_or((&target, ""));
    let query = q
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%2C", ",")))
        .collect();
    let req = Req {
        path: path.to_string(),
        query,
        token,
        at: Instant::now(),
    };
    log.lock().unwrap().push(req.clone());
    let resp = h(&req);
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = s.write_all(out.as_bytes());
    match resp.stall {
        Some(d) => {
            let half = resp.body.len() / 2;
            let _ = s.write_all(&resp.body[..half]);
            let _ = s.flush();
            std::thread::sleep(d);
            let _ = s.write_all(&resp.body[half..]);
        }
        None => {
            let _ = s.write_all(&resp.body);
        }
    }
    let _ = s.flush();
}

fn fixture(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/packet-sd")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// What the fake account holds; tests change it while promlet runs.
#[derive(Clone, Default)]
struct Account {
    /// An extra device in "prod" (to make the output change).
    extra_device: bool,
}

/// The fake API's normal answers: two projects; "prod" has three devices over two pages
/// (one provisioning without addresses), "lab" one device that lacks plan, OS, facility,
/// metro and tags. Devices carry only a project href, as the API sends them without
/// `include=project`.
fn api_answer(req: &Req, account: &Account) -> Resp {
    if req.token.as_deref() != Some(TOKEN) {
        return Resp::error(401, "Invalid authentication token");
    }
    let page: u64 = req
        .query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let p = req.path.as_str();
    if p == "/metal/v1/projects" {
        let mut v = fixture("projects.json");
        if !req
            .query
            .get("include")
            .is_some_and(|i| i.contains("organization"))
        {
            v["projects"][0]["organization"] =
                serde_json::json!({ "href": format!("/metal/v1/organizations/{ORG}") });
        }
        return Resp::json(&v);
    }
    if p == format!("/metal/v1/projects/{PROD}") {
        let v = fixture("projects.json");
        return Resp::json(&v["projects"][0]);
    }
    if p == format!("/metal/v1/projects/{PROD}/devices") {
        let mut v = match page {
            1 => fixture("devices-page1.json"),
            2 => fixture("devices-page2.json"),
            _ => serde_json::json!({"devices": [], "meta": {"next": null}}),
        };
        if page == 2 && account.extra_device {
            let mut d = v["devices"][0].clone();
            d["id"] = "e1e1e1e1-0000-4000-8000-000000000002".into();
            d["hostname"] = "edge-02".into();
            d["ip_addresses"] = serde_json::json!([{"address_family": 4, "public": false,
                "management": true, "address": "10.70.12.9"}]);
            v["devices"].as_array_mut().unwrap().push(d);
        }
        for d in v["devices"].as_array_mut().unwrap() {
            d["project"] = serde_json::json!({ "href": format!("/metal/v1/projects/{PROD}") });
        }
        return Resp::json(&v);
    }
    if p == format!("/metal/v1/projects/{LAB}/devices") {
        return Resp::json(&serde_json::json!({
            "devices": [{"id": "0d0d0d0d-1111-4222-8333-444455556666", "hostname": "bare",
                "state": "active", "plan": null,
                "ip_addresses": [{"address": "10.80.0.7", "address_family": 4,
                    "management": true, "public": false}]}],
            "meta": {"next": null, "current_page": 1, "last_page": 1}
        }));
    }
    Resp::error(404, "Not found")
}

// ---------------------------------------------------------------- helpers

/// `promlet packet-sd` with its own /metrics on `127.0.0.1:0`; `addr` is the address it logged.
fn packet_sd(args: &[String], env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(promlet_bin());
    cmd.arg("packet-sd")
        .arg("--web.listen-address=127.0.0.1:0")
        .args(args)
        .env_remove("PACKET_AUTH_TOKEN")
        .env_remove("PACKET_PROJECT_ID")
        .env_remove("CREDENTIALS_DIRECTORY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    spawn_reporting(cmd, "packet-sd", "metrics on")
}

fn wait_file(path: &Path, proc: &Proc) -> Vec<u8> {
    wait_for(Duration::from_secs(30), || std::fs::read(path).ok()).unwrap_or_else(|| {
        panic!(
            "{} never written; log:\n{}",
            path.display(),
            proc.log_text()
        )
    })
}

/// The value of an unlabelled sample in an exposition.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn metrics_text(p: &Proc) -> String {
    let r = http_get(p.addr, "/metrics");
    assert_eq!(r.status, 200);
    r.text()
}

/// Target groups by hostname.
fn groups_by_host(json: &[u8]) -> HashMap<String, Value> {
    let v: Value = serde_json::from_slice(json).expect("output is a JSON array");
    v.as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["labels"]["__meta_packet_hostname"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                g.clone(),
            )
        })
        .collect()
}

fn label<'a>(g: &'a Value, name: &str) -> &'a str {
    g["labels"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {g}"))
}

fn account_api(account: Arc<Mutex<Account>>) -> Arc<Handler> {
    Arc::new(move |r: &Req| api_answer(r, &account.lock().unwrap()))
}

/// Prometheus's active targets once there are `n` of them. Asked with HTTP/1.0 so the answer
/// is not chunked (common's client reads Content-Length bodies only); 503 while Prometheus
/// is still starting is waited out.
fn active_targets(prom: &Prometheus, n: usize) -> Vec<Value> {
    let get = || -> Option<Value> {
        let mut s = TcpStream::connect(prom.proc.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        s.write_all(b"GET /api/v1/targets HTTP/1.0\r\n\r\n").ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).ok()?;
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        if !raw.starts_with(b"HTTP/1.0 200") && !raw.starts_with(b"HTTP/1.1 200") {
            return None;
        }
        serde_json::from_slice(&raw[end + 4..]).ok()
    };
    let mut last = None;
    wait_for(Duration::from_secs(30), || {
        let v = get()?;
        let active = v["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        last = Some(v);
        (active.len() == n).then_some(active)
    })
    .unwrap_or_else(|| panic!("prometheus targets: {last:?}\n{}", prom.proc.log_text()))
}

// ---------------------------------------------------------------- tests

#[test]
fn https_with_test_ca_all_projects_paged_into_file_read_by_prometheus() {
    let ca = TestCa::new("packet-sd-ca");
    let api = FakeApi::start(account_api(Default::default()), Some(&ca));
    let dir = tempdir("packet-sd-https");
    let out = dir.join("packet.json");
    let p = packet_sd(
        &[
            format!("--packet.api-url={}", api.url()),
            format!("--packet.ca-file={}", ca.ca_cert.display()),
            format!("--packet.authtoken={TOKEN}"),
            format!("--output.file={}", out.display()),
            "--packet.per-page=2".into(),
            "--target.refresh=1h".into(),
        ],
        &[],
    );
    let body = wait_file(&out, &p);
    let groups = groups_by_host(&body);
    let mut hosts: Vec<&str> = groups.keys().map(String::as_str).collect();
    hosts.sort();
    // new-box is provisioning without addresses: left out, never ":9100".
    assert_eq!(
        hosts,
        ["bare", "db-01", "edge-01"],
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(!String::from_utf8_lossy(&body).contains("\":9100\""));

    let edge = &groups["edge-01"];
    assert_eq!(edge["targets"], serde_json::json!(["10.70.12.3:9100"]));
    for (k, v) in [
        ("__address__", "10.70.12.3:9100"),
        ("__meta_packet_billing_cycle", "hourly"),
        (
            "__meta_packet_device_id",
            "6a1c3e62-1b0f-4a8e-9e57-3f2b1c9d0a11",
        ),
        ("__meta_packet_facility", "sv15"),
        ("__meta_packet_metro", "sv"),
        ("__meta_packet_operating_system", "ubuntu_22_04"),
        ("__meta_packet_organization_id", ORG),
        ("__meta_packet_organization_name", "Acme Ops"),
        ("__meta_packet_plan", "c3.small.x86"),
        ("__meta_packet_private_ipv4", "10.70.12.3"),
        ("__meta_packet_project_id", PROD),
        ("__meta_packet_project_name", "prod"),
        ("__meta_packet_public_ipv4", "139.178.64.11"),
        ("__meta_packet_public_ipv6", "2604:1380:4641:c500::1"),
        ("__meta_packet_short_id", "6a1c3e62"),
        ("__meta_packet_state", "active"),
        ("__meta_packet_switch_uuid", "d4f1b2a0"),
        ("__meta_packet_tags", ",role:edge,prod,"),
    ] {
        assert_eq!(label(edge, k), v, "{k}");
    }
    assert_eq!(edge["labels"].as_object().unwrap().len(), 19);
    let db = &groups["db-01"];
    assert_eq!(label(db, "__address__"), "10.70.40.5:9100");
    assert_eq!(label(db, "__meta_packet_public_ipv4"), "");
    assert_eq!(label(db, "__meta_packet_state"), "inactive");
    assert_eq!(label(db, "__meta_packet_tags"), ",db,");
    // A device without plan, OS, facility, metro or tags still is a target.
    let bare = &groups["bare"];
    assert_eq!(label(bare, "__address__"), "10.80.0.7:9100");
    assert_eq!(label(bare, "__meta_packet_plan"), "");
    assert_eq!(label(bare, "__meta_packet_facility"), "");
    assert_eq!(label(bare, "__meta_packet_project_name"), "lab");
    assert_eq!(label(bare, "__meta_packet_organization_id"), ORG);

    // The file is sorted, readable by everyone, and nothing was left next to it.
    let addrs: Vec<String> = serde_json::from_slice::<Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["targets"][0].as_str().unwrap().to_string())
        .collect();
    let mut sorted = addrs.clone();
    sorted.sort();
    assert_eq!(addrs, sorted);
    assert_eq!(std::fs::metadata(&out).unwrap().mode() & 0o777, 0o644);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

    // The API saw the token on every call, both pages, and the includes.
    let reqs = api.requests();
    assert!(reqs.iter().all(|r| r.token.as_deref() == Some(TOKEN)));
    let prod_pages: Vec<&str> = reqs
        .iter()
        .filter(|r| r.path.ends_with(&format!("{PROD}/devices")))
        .map(|r| r.query["page"].as_str())
        .collect();
    assert_eq!(prod_pages, ["1", "2"]);
    let projects = reqs
        .iter()
        .find(|r| r.path == "/metal/v1/projects" && r.query.contains_key("include"))
        .expect("projects listed");
    assert!(projects.query["include"].contains("organization"));
    let dev = reqs.iter().find(|r| r.path.ends_with("/devices")).unwrap();
    assert_eq!(dev.query["include"], "facility,metro");

    let m = metrics_text(&p);
    promtool_check_metrics(&m);
    assert_eq!(metric(&m, "prometheus_packet_sd_targets"), Some(3.0), "{m}");
    assert_eq!(
        metric(&m, "prometheus_packet_sd_skipped_devices"),
        Some(1.0)
    );
    assert_eq!(metric(&m, "prometheus_packet_sd_projects"), Some(2.0));
    assert_eq!(
        metric(&m, "prometheus_packet_sd_request_failures_total"),
        Some(0.0)
    );
    // One observation per list call: projects, prod devices, lab devices.
    assert_eq!(
        metric(&m, "prometheus_packet_sd_request_duration_seconds_count"),
        Some(3.0)
    );
    assert!(metric(&m, "prometheus_packet_sd_last_success_timestamp_seconds").unwrap() > 1.6e9);

    // A real Prometheus reads the file (promtool check config validated it first).
    let prom = Prometheus::start(&format!(
        "global:\n  scrape_interval: 1h\nscrape_configs:\n  - job_name: packet\n    file_sd_configs:\n      - files: ['{}']\n    relabel_configs:\n      - source_labels: [__meta_packet_hostname]\n        target_label: instance\n",
        out.display()
    ));
    let targets = active_targets(&prom, 3);
    let edge = targets
        .iter()
        .find(|t| t["labels"]["instance"] == "edge-01")
        .expect("edge-01 in prometheus");
    assert_eq!(edge["discoveredLabels"]["__address__"], "10.70.12.3:9100");
    assert_eq!(edge["discoveredLabels"]["__meta_packet_metro"], "sv");
    assert_eq!(
        edge["discoveredLabels"]["__meta_packet_organization_name"],
        "Acme Ops"
    );
    assert_eq!(edge["scrapeUrl"], "http://10.70.12.3:9100/metrics");
}

#[test]
fn https_refuses_an_api_certificate_from_an_unknown_ca() {
    let ca = TestCa::new("packet-sd-ca-unknown");
    let api = FakeApi::start(account_api(Default::default()), Some(&ca));
    let dir = tempdir("packet-sd-unknown-ca");
    // Trusted: the system bundle only; the test CA is not in it.
    let out = Command::new(promlet_bin())
        .args([
            "packet-sd".to_string(),
            format!("--packet.api-url={}", api.url()),
            format!("--packet.authtoken={TOKEN}"),
            format!("--output.file={}", dir.join("packet.json").display()),
            "--web.listen-address=127.0.0.1:0".into(),
            "--packet.retries=0".into(),
        ])
        .env("SSL_CERT_FILE", &ca.client_cert) // a certificate, but not the issuer
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("failed to check Packet credentials"), "{err}");
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(api.requests().is_empty(), "a request got through");
    assert!(!dir.join("packet.json").exists());
}

/// The roots come from `SSL_CERT_DIR` (a folder of PEM files, as `c_rehash` leaves them) when
/// it is set, as OpenSSL and Go read it.
#[test]
fn https_trusts_the_roots_in_ssl_cert_dir() {
    let ca = TestCa::new("packet-sd-ca-dir");
    let api = FakeApi::start(account_api(Default::default()), Some(&ca));
    let dir = tempdir("packet-sd-cert-dir");
    let certs = dir.join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(&ca.ca_cert, certs.join("5d5a0f3b.0")).unwrap();
    let out = dir.join("packet.json");
    let p = packet_sd(
        &[
            format!("--packet.api-url={}", api.url()),
            format!("--packet.authtoken={TOKEN}"),
            format!("--output.file={}", out.display()),
            "--target.refresh=1h".into(),
        ],
        &[
            ("SSL_CERT_DIR", certs.to_str().unwrap()),
            ("SSL_CERT_FILE", ""),
        ],
    );
    let body = wait_file(&out, &p);
    assert!(groups_by_host(&body).contains_key("edge-01"));
}

/// No root anywhere: one message at start naming every place looked at.
#[test]
fn https_without_any_roots_says_where_it_looked() {
    let dir = tempdir("packet-sd-no-roots");
    let out = Command::new(promlet_bin())
        .args([
            "packet-sd".to_string(),
            "--packet.api-url=https://127.0.0.1:9/metal/v1".into(),
            format!("--packet.authtoken={TOKEN}"),
            format!("--output.file={}", dir.join("packet.json").display()),
            "--web.listen-address=127.0.0.1:0".into(),
        ])
        .env("SSL_CERT_FILE", dir.join("missing.pem"))
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let want = format!("SSL_CERT_FILE={}", dir.join("missing.pem").display());
    assert!(
        err.contains("no trusted CA certificates") && err.contains(&want),
        "{err}"
    );
    assert!(err.contains("--packet.ca-file"), "{err}");
    assert_eq!(
        err.matches("no trusted CA certificates").count(),
        1,
        "{err}"
    );
}

#[test]
fn project_id_from_env_token_from_systemd_credential_public_addresses() {
    let api = FakeApi::start(account_api(Default::default()), None);
    let dir = tempdir("packet-sd-project");
    let creds = dir.join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("packet-authtoken"), format!("{TOKEN}\n")).unwrap();
    let out = dir.join("out").join("packet.json");
    std::fs::create_dir(out.parent().unwrap()).unwrap();
    let p = packet_sd(
        &[
            format!("--packet.api-url={}", api.url()),
            format!("--output.file={}", out.display()),
            "--packet.address=public-ipv4".into(),
            "--target.port=9273".into(),
        ],
        &[
            ("PACKET_PROJECT_ID", PROD),
            ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
        ],
    );
    let groups = groups_by_host(&wait_file(&out, &p));
    // db-01 has no public IPv4, new-box no address at all: both left out.
    assert_eq!(groups.len(), 1, "{groups:?}");
    let edge = &groups["edge-01"];
    assert_eq!(edge["targets"], serde_json::json!(["139.178.64.11:9273"]));
    // Organization labels also in single-project mode (the original left them empty).
    assert_eq!(label(edge, "__meta_packet_organization_id"), ORG);
    assert_eq!(label(edge, "__meta_packet_organization_name"), "Acme Ops");
    assert_eq!(label(edge, "__meta_packet_project_name"), "prod");
    // Only that project was asked for.
    let reqs = api.requests();
    assert!(
        reqs.iter()
            .all(|r| r.path.starts_with(&format!("/metal/v1/projects/{PROD}"))),
        "{reqs:?}"
    );
    assert!(reqs.iter().all(|r| r.token.as_deref() == Some(TOKEN)));
    let m = metrics_text(&p);
    assert_eq!(
        metric(&m, "prometheus_packet_sd_skipped_devices"),
        Some(2.0),
        "{m}"
    );
    assert_eq!(metric(&m, "prometheus_packet_sd_targets"), Some(1.0));
}

#[test]
fn retries_429_after_retry_after_5xx_with_backoff_and_waits_out_the_rate_limit() {
    let hits = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let h = hits.clone();
    let handler: Arc<Handler> = Arc::new(move |r: &Req| {
        let key = format!("{}?page={}", r.path, r.query.get("page").map_or("", |s| s));
        let n = {
            let mut m = h.lock().unwrap();
            let c = m.entry(key.clone()).or_default();
            *c += 1;
            *c
        };
        if r.path == "/metal/v1/projects" && r.query.contains_key("include") && n == 1 {
            let mut resp = Resp::error(429, "Too many requests");
            resp.headers.push(("Retry-After".into(), "2".into()));
            return resp;
        }
        if r.path == "/metal/v1/projects" && r.query.contains_key("include") && n == 2 {
            // Success, but the rate limit is used up for the next 2 s at most.
            let reset = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 2;
            let mut resp = api_answer(r, &Account::default());
            resp.headers
                .push(("X-RateLimit-Remaining".into(), "0".into()));
            resp.headers
                .push(("X-RateLimit-Reset".into(), reset.to_string()));
            return resp;
        }
        if key.ends_with(&format!("{PROD}/devices?page=1")) && n <= 2 {
            return Resp::error(500, "Internal Server Error");
        }
        if key.ends_with(&format!("{PROD}/devices?page=2")) && n == 1 {
            return Resp::raw(503, "<html>upstream down</html>");
        }
        api_answer(r, &Account::default())
    });
    let api = FakeApi::start(handler, None);
    let dir = tempdir("packet-sd-retry");
    let out = dir.join("packet.json");
    let p = packet_sd(
        &[
            format!("--packet.api-url={}", api.url()),
            format!("--packet.authtoken={TOKEN}"),
            format!("--output.file={}", out.display()),
            "--packet.per-page=2".into(),
            "--target.refresh=1h".into(),
        ],
        &[],
    );
    let groups = groups_by_host(&wait_file(&out, &p));
    assert_eq!(groups.len(), 3);
    let reqs = api.requests();
    let list: Vec<&Req> = reqs
        .iter()
        .filter(|r| r.path == "/metal/v1/projects" && r.query.contains_key("include"))
        .collect();
    assert_eq!(list.len(), 2, "429 then success");
    let waited = list[1].at - list[0].at;
    // Retry-After: 2 honoured (the backoff alone would have waited 1 s).
    assert!(waited >= Duration::from_millis(1900), "waited {waited:?}");
    let page1: Vec<&Req> = reqs
        .iter()
        .filter(|r| r.path.ends_with(&format!("{PROD}/devices")) && r.query["page"] == "1")
        .collect();
    assert_eq!(page1.len(), 3, "two 500s then success");
    // The exhausted rate limit held the next request back until its reset (1-2 s away).
    let held = page1[0].at - list[1].at;
    assert!(held >= Duration::from_millis(900), "held {held:?}");
    // Backoff 1 s then 2 s.
    assert!(page1[2].at - page1[0].at >= Duration::from_millis(2900));
    let m = metrics_text(&p);
    assert_eq!(
        metric(&m, "prometheus_packet_sd_request_failures_total"),
        Some(0.0)
    );
    let log = p.log_text();
    assert!(log.contains("status 429: Too many requests"), "{log}");
    assert!(
        log.contains("status 503: <html>upstream down</html>"),
        "{log}"
    );
}

#[test]
fn failures_keep_the_last_good_file_and_readers_never_see_a_partial_one() {
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Mode {
        Good,
        Malformed,
        ServerError,
        Slow,
        Changed,
    }
    let mode = Arc::new(Mutex::new(Mode::Good));
    let m2 = mode.clone();
    let handler: Arc<Handler> = Arc::new(move |r: &Req| {
        let mode = *m2.lock().unwrap();
        let devices = r.path.ends_with(&format!("{PROD}/devices"));
        match mode {
            Mode::Malformed if devices => {
                Resp::raw(200, "{\"devices\":[{\"id\":\"6a1c3e62\",\"hostname\":")
            }
            Mode::ServerError if devices => Resp::error(500, "Internal Server Error"),
            Mode::Slow if devices => {
                let mut resp = api_answer(r, &Account::default());
                resp.stall = Some(Duration::from_secs(4));
                resp
            }
            Mode::Changed => api_answer(r, &Account { extra_device: true }),
            _ => api_answer(r, &Account::default()),
        }
    });
    let api = FakeApi::start(handler, None);
    let dir = tempdir("packet-sd-failures");
    let out = dir.join("packet.json");
    let p = packet_sd(
        &[
            format!("--packet.api-url={}", api.url()),
            format!("--packet.authtoken={TOKEN}"),
            format!("--output.file={}", out.display()),
            "--target.refresh=1s".into(),
            "--packet.timeout=1s".into(),
            "--packet.retries=0".into(),
        ],
        &[],
    );
    let first = wait_file(&out, &p);
    assert_eq!(groups_by_host(&first).len(), 3);
    let ino = std::fs::metadata(&out).unwrap().ino();

    // A reader loops over the file the whole time: it must always parse, with 3 or 4 groups.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (stop, reads, out) = (stop.clone(), reads.clone(), out.clone());
        std::thread::spawn(move || -> Result<(), String> {
            while !stop.load(Ordering::Relaxed) {
                let data = std::fs::read(&out).map_err(|e| format!("read: {e}"))?;
                let v: Value = serde_json::from_slice(&data)
                    .map_err(|e| format!("partial file ({} bytes): {e}", data.len()))?;
                let n = v.as_array().map_or(0, Vec::len);
                if n != 3 && n != 4 {
                    return Err(format!("{n} groups"));
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
    };

    let failures = |p: &Proc| {
        metric(
            &metrics_text(p),
            "prometheus_packet_sd_request_failures_total",
        )
        .unwrap()
    };
    // Each failure is waited for by its own log line, so a refresh still running in the
    // previous mode cannot stand in for it.
    for (bad, says) in [
        (Mode::Malformed, "bad answer: EOF while parsing"),
        (Mode::ServerError, "status 500: Internal Server Error"),
        (Mode::Slow, "reading the answer: timeout"),
    ] {
        let before = failures(&p);
        *mode.lock().unwrap() = bad;
        wait_for(Duration::from_secs(30), || {
            let failed = p.log_text().lines().any(|l| {
                l.contains("refresh failed, keeping the last targets") && l.contains(says)
            });
            (failed && failures(&p) > before).then_some(())
        })
        .unwrap_or_else(|| panic!("{bad:?} never failed a refresh:\n{}", p.log_text()));
        assert_eq!(
            std::fs::read(&out).unwrap(),
            first,
            "{bad:?} changed the file"
        );
        assert_eq!(
            std::fs::metadata(&out).unwrap().ino(),
            ino,
            "{bad:?} rewrote the file"
        );
    }

    // The account changes: the new file replaces the old one in one rename.
    *mode.lock().unwrap() = Mode::Changed;
    let changed = wait_for(Duration::from_secs(30), || {
        let d = std::fs::read(&out).ok()?;
        (d != first).then_some(d)
    })
    .expect("file never updated after the failures");
    assert!(groups_by_host(&changed).contains_key("edge-02"));
    let ino2 = std::fs::metadata(&out).unwrap().ino();
    assert_ne!(ino, ino2);
    // Further refreshes with the same devices leave the file alone.
    let ts = |p: &Proc| {
        metric(
            &metrics_text(p),
            "prometheus_packet_sd_last_success_timestamp_seconds",
        )
    };
    let t0 = ts(&p);
    wait_for(Duration::from_secs(30), || (ts(&p) > t0).then_some(())).unwrap();
    let t1 = ts(&p);
    wait_for(Duration::from_secs(30), || (ts(&p) > t1).then_some(())).unwrap();
    assert_eq!(
        std::fs::metadata(&out).unwrap().ino(),
        ino2,
        "unchanged content was rewritten"
    );

    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap().unwrap();
    assert!(reads.load(Ordering::Relaxed) > 10);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "temporary file left behind"
    );
    promtool_check_metrics(&metrics_text(&p));
}

#[test]
fn start_check_rejects_a_bad_token_and_config_errors_stop_at_start() {
    let api = FakeApi::start(account_api(Default::default()), None);
    let dir = tempdir("packet-sd-badtoken");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "packet-sd".to_string(),
            format!("--packet.api-url={}", api.url()),
            format!("--output.file={}", dir.join("packet.json").display()),
            "--web.listen-address=127.0.0.1:0".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Command::new(promlet_bin())
            .args(&args)
            .env_remove("PACKET_AUTH_TOKEN")
            .env_remove("CREDENTIALS_DIRECTORY")
            .output()
            .unwrap()
    };
    let o = run(&["--packet.authtoken=wrong"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("failed to check Packet credentials")
            && err.contains("status 401: Invalid authentication token"),
        "{err}"
    );
    // 401 is not retried.
    assert_eq!(api.requests().len(), 1);
    let o = run(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no API token"), "{err}");
    let missing = format!("--output.file={}", dir.join("nodir/packet.json").display());
    let o = run(&[&format!("--packet.authtoken={TOKEN}"), &missing]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(!dir.join("packet.json").exists());
}

#[test]
fn serve_mode_http_sd_endpoint_read_by_prometheus() {
    let api = FakeApi::start(account_api(Default::default()), None);
    let p = promlet(&[
        &format!("--packet.authtoken={TOKEN}"),
        &format!("--packet.api-url={}", api.url()),
        "--packet-sd.refresh-interval=1h",
        "--packet-sd.target-port=9273",
    ]);
    let body = wait_for(Duration::from_secs(30), || {
        let r = http_get(p.addr, "/packet-sd");
        (r.status == 200).then_some(r.body)
    })
    .unwrap_or_else(|| panic!("/packet-sd never ready:\n{}", p.log_text()));
    let groups = groups_by_host(&body);
    assert_eq!(groups.len(), 3);
    assert_eq!(
        groups["edge-01"]["targets"],
        serde_json::json!(["10.70.12.3:9273"])
    );
    let m = http_get(p.addr, "/metrics").text();
    promtool_check_metrics(&m);
    assert_eq!(metric(&m, "prometheus_packet_sd_targets"), Some(3.0), "{m}");

    let prom = Prometheus::start(&format!(
        "global:\n  scrape_interval: 1h\nscrape_configs:\n  - job_name: packet\n    http_sd_configs:\n      - url: http://{}/packet-sd\n",
        p.addr
    ));
    let targets = active_targets(&prom, 3);
    assert!(targets.iter().any(
        |t| t["discoveredLabels"]["__meta_packet_hostname"] == "bare"
            && t["discoveredLabels"]["__address__"] == "10.80.0.7:9273"
    ));
}

#[test]
fn a_server_that_always_says_next_is_followed_only_to_its_last_page() {
    let handler: Arc<Handler> = Arc::new(|r: &Req| {
        if r.path.ends_with(&format!("{LAB}/devices")) {
            let page: u64 = r.query["page"].parse().unwrap();
            return Resp::json(&serde_json::json!({
                "devices": [{"id": format!("d{page}"), "hostname": format!("h{page}"),
                    "ip_addresses": [{"address": format!("10.9.9.{page}"), "management": true}]}],
                "meta": {"next": {"href": "/again"}, "current_page": page, "last_page": 3}
            }));
        }
        api_answer(r, &Account::default())
    });
    let api = FakeApi::start(handler, None);
    let dir = tempdir("packet-sd-endless");
    let out = dir.join("packet.json");
    let p = packet_sd(
        &[
            format!("--packet.api-url={}", api.url()),
            format!("--packet.authtoken={TOKEN}"),
            format!("--output.file={}", out.display()),
            "--target.refresh=1h".into(),
        ],
        &[],
    );
    let groups = groups_by_host(&wait_file(&out, &p));
    assert!(["h1", "h2", "h3"].iter().all(|h| groups.contains_key(*h)));
    let lab_pages = api
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(&format!("{LAB}/devices")))
        .count();
    assert_eq!(lab_pages, 3);
}

/// A CONNECT proxy on 127.0.0.1 that logs each CONNECT head and relays bytes both ways.
fn connect_proxy() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { continue };
            let log = l2.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut b) {
                        Ok(1) => head.push(b[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                log.lock().unwrap().push(head.clone());
                let target = head.split(' ').nth(1).unwrap_or("").to_string();
                let Ok(mut upstream) = TcpStream::connect(&target) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    return;
                };
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut u2);
                    let _ = u2.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut upstream, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    (addr, log)
}

#[test]
fn https_api_through_a_connect_proxy_from_the_environment() {
    let ca = TestCa::new("packet-sd-ca-proxy");
    let api = FakeApi::start(account_api(Default::default()), Some(&ca));
    let (proxy, proxy_log) = connect_proxy();
    let dir = tempdir("packet-sd-proxy");
    let out = dir.join("packet.json");
    let proxy_url = format!("http://sd%40ops:s3cret@{proxy}");
    let p = packet_sd(
        &[
            format!("--packet.api-url={}", api.url()),
            format!("--packet.ca-file={}", ca.ca_cert.display()),
            format!("--packet.authtoken={TOKEN}"),
            format!("--output.file={}", out.display()),
            "--target.refresh=1h".into(),
        ],
        &[
            ("HTTPS_PROXY", &proxy_url),
            ("ALL_PROXY", &proxy_url),
            ("NO_PROXY", "example.invalid"),
        ],
    );
    let groups = groups_by_host(&wait_file(&out, &p));
    assert_eq!(groups.len(), 3, "{groups:?}");
    let tunnels = proxy_log.lock().unwrap().clone();
    let reqs = api.requests();
    // Every API call went through its own tunnel, with the proxy's credentials
    // ("sd@ops:s3cret" in base64); the token travelled inside TLS.
    assert_eq!(tunnels.len(), reqs.len(), "{tunnels:?}");
    for t in &tunnels {
        assert!(
            t.starts_with(&format!("CONNECT {} HTTP/1.1\r\n", api.addr)),
            "{t}"
        );
        assert!(
            t.contains("\r\nProxy-Authorization: Basic c2RAb3BzOnMzY3JldA==\r\n"),
            "{t}"
        );
        assert!(!t.contains(TOKEN), "{t}");
    }
    assert!(reqs.iter().all(|r| r.token.as_deref() == Some(TOKEN)));
}
