//! Helpers shared by the integration tests: start the built promlet and real peers
//! (Prometheus, promtool, node_exporter, ...) on 127.0.0.1, talk HTTP to them. promlet binds
//! port 0 and the harness reads the bound address from its log.
//! Peers are required: a missing one fails the test with the package to install (`make deps`).
#![allow(dead_code)]

mod promtool;
#[allow(unused_imports)] // not every test binary checks metrics
pub use promtool::{promtool_check_metrics, require_tool};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now. Only for peers that cannot report the port they bound
/// (node_exporter, Prometheus): another test may get the same port, so [`spawn_listening`]
/// checks that the listener belongs to the process it started. promlet binds port 0 and logs
/// the address instead ([`promlet`]).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh empty directory for one test.
pub fn tempdir(name: &str) -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = base.join(format!("{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Path of the promlet binary under test.
pub fn promlet_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_promlet"))
}

/// A child process killed (and reaped) on drop; stderr goes to a log file kept for debugging.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Proc {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// Every address promlet logged as bound (`listening on ADDR`), in order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        logged_addrs(&self.log_text(), "listening on")
    }
}

/// The addresses logged after `marker` (`msg="listening on 127.0.0.1:41234"`, or a logfmt
/// `address=` field after it), one per line.
pub fn logged_addrs(log: &str, marker: &str) -> Vec<SocketAddr> {
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find(marker)? + marker.len()..];
            let rest = rest.trim_start_matches(['"', ' ']);
            let rest = rest.strip_prefix("address=").unwrap_or(rest);
            let end = rest
                .find(|c: char| c == '"' || c.is_whitespace())
                .unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
        .collect()
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn logged_command(cmd: &mut Command, name: &str) -> PathBuf {
    let log = tempdir(&format!("{name}-log")).join("stderr.log");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(
            std::fs::File::create(log.with_extension("out")).unwrap(),
        ))
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    log
}

/// True if process `pid` itself holds the socket listening on `port` (by socket inode, from
/// /proc/net/tcp{,6} and /proc/PID/fd), not some other process that got the same free port.
fn owns_listener(pid: u32, port: u16) -> bool {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if cols.get(3) == Some(&"0A") && local_port == Some(port) {
                if let Some(ino) = cols.get(9) {
                    inodes.push(format!("socket:[{ino}]"));
                }
            }
        }
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|l| inodes.iter().any(|i| l.as_os_str() == i.as_str()))
    })
}

/// Starts `bin args...` (a peer given a [`free_port`]) and waits until it listens on `addr`
/// itself: if another test's process holds that port, this one exits and the test fails
/// saying so, instead of talking to the wrong process.
pub fn spawn_listening(bin: &Path, args: &[String], addr: SocketAddr, name: &str) -> Proc {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    let log = logged_command(&mut cmd, name);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let mut p = Proc { child, addr, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !owns_listener(p.child.id(), addr.port()) {
        if let Ok(Some(st)) = p.child.try_wait() {
            panic!(
                "{name} exited with {st} before listening on {addr} (port taken by another test?):\n{}",
                p.log_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not listen on {addr}:\n{}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    p
}

/// Starts `cmd` (which binds port 0) and waits until its stderr names the address it bound,
/// after `marker`. `addr` is the first address logged.
pub fn spawn_reporting(mut cmd: Command, name: &str, marker: &str) -> Proc {
    let log = logged_command(&mut cmd, name);
    let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut p = Proc {
        child,
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(a) = logged_addrs(&p.log_text(), marker).first() {
            p.addr = *a;
            return p;
        }
        if let Ok(Some(st)) = p.child.try_wait() {
            panic!(
                "{name} exited with {st} before listening:\n{}",
                p.log_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{name} never logged its address:\n{}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts promlet (serve) on `127.0.0.1:0` with the given extra flags; `addr` is the address
/// it logged as bound, so parallel tests never share a port.
pub fn promlet(args: &[&str]) -> Proc {
    promlet_with(args, |_| {})
}

/// [`promlet`], with a hook to adjust the command (environment, limits) before it starts.
pub fn promlet_with(args: &[&str], adjust: impl FnOnce(&mut Command)) -> Proc {
    let mut cmd = Command::new(promlet_bin());
    cmd.arg("--web.listen-address=127.0.0.1:0").args(args);
    adjust(&mut cmd);
    spawn_reporting(cmd, "promlet", "listening on")
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// GET `path` with extra headers, `Connection: close`; follows nothing.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

pub fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    http_request(addr, "GET", path, &[])
}

/// Parses a `Content-Length` (or close-delimited) HTTP/1.1 response.
pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end in response");
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        body.truncate(len.1.parse().unwrap());
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A real Prometheus server (Debian's 2.42) on a free loopback port, with `config` as its
/// prometheus.yml and a throwaway TSDB directory.
pub struct Prometheus {
    pub proc: Proc,
    pub dir: PathBuf,
}

impl Prometheus {
    pub fn start(config: &str) -> Prometheus {
        Prometheus::start_with(config, &[])
    }

    /// [`Prometheus::start`] with more flags (`--web.enable-remote-write-receiver`).
    pub fn start_with(config: &str, extra: &[&str]) -> Prometheus {
        let bin = require_tool("prometheus", "prometheus");
        let dir = tempdir("prometheus");
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let promtool = require_tool("promtool", "prometheus");
        let check = Command::new(promtool)
            .args(["check", "config"])
            .arg(dir.join("prometheus.yml"))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "promtool check config rejected:\n{}{}\n{config}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut args = vec![
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address={addr}"),
            "--web.enable-lifecycle".to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let proc = spawn_listening(&bin, &args, addr, "prometheus");
        // It listens before it is ready (503 from /-/ready while the TSDB opens).
        wait_for(Duration::from_secs(60), || {
            (http_get(addr, "/-/ready").status == 200).then_some(())
        })
        .unwrap_or_else(|| panic!("prometheus never became ready:\n{}", proc.log_text()));
        Prometheus { proc, dir }
    }

    /// GET an API path (e.g. `/api/v1/targets`) and parse the JSON.
    pub fn api(&self, path_and_query: &str) -> serde_json::Value {
        let r = http_get(self.proc.addr, path_and_query);
        serde_json::from_slice(&r.body).unwrap_or_else(|e| {
            panic!(
                "bad JSON from prometheus {path_and_query}: {e}: {}",
                r.text()
            )
        })
    }

    /// Instant query; returns `data.result`.
    pub fn query(&self, q: &str) -> Vec<serde_json::Value> {
        let enc: String = q
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let v = self.api(&format!("/api/v1/query?query={enc}"));
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `q` returns at least one series.
    pub fn wait_query(&self, q: &str, timeout: Duration) -> Vec<serde_json::Value> {
        wait_for(timeout, || {
            let r = self.query(q);
            (!r.is_empty()).then_some(r)
        })
        .unwrap_or_else(|| {
            panic!(
                "prometheus never answered {q:?}; targets: {}\nlog:\n{}",
                self.api("/api/v1/targets"),
                self.proc.log_text()
            )
        })
    }
}

/// A throwaway PKI made with the `openssl` command: a CA, a server certificate for
/// 127.0.0.1/localhost and a client certificate, all PEM files in `dir`.
pub struct TestCa {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let dir = tempdir(name);
        let openssl = require_tool("openssl", "openssl");
        let run = |args: &[&str]| {
            let out = Command::new(&openssl)
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut a = vec![
            "req",
            "-x509",
            "-days",
            "30",
            "-subj",
            "/CN=promlet test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ];
        a.extend(ec);
        run(&a);
        for (who, cn, ext) in [
            ("server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
            ("client", "promlet test client", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"),
        ] {
            std::fs::write(dir.join(format!("{who}.ext")), ext).unwrap();
            let subj = format!("/CN={cn}");
            let (key, csr, pem, extf) = (format!("{who}.key"), format!("{who}.csr"), format!("{who}.pem"), format!("{who}.ext"));
            let mut a = vec!["req", "-new", "-subj", &subj, "-keyout", &key, "-out", &csr];
            a.extend(ec);
            run(&a);
            run(&["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "30", "-out", &pem, "-extfile", &extf]);
        }
        TestCa {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            dir,
        }
    }
}
