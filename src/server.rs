//! The HTTP/1.1 server every part answers through.
//!
//! Shape: one poller thread owns the listening socket and every idle connection (new ones and
//! kept-alive ones) and waits on them with poll(2); only a connection that has bytes to read
//! is handed to a worker. Workers are threads from a bounded pool (started on demand, up to
//! `max_workers`). A worker reads one request head under a deadline and a size cap, answers,
//! and gives the connection back to the poller. So idle clients cost a file descriptor, not a
//! thread, and a slow client holds one worker for at most `head_timeout`.
//!
//! Answers: 400 for a malformed request line or header, 405 (with `Allow`) for methods other
//! than GET and HEAD, 404 for unknown paths, 408 when the head does not arrive in time, 431 when
//! it is too large, 503 when every worker is busy and the queue is full. HEAD sends the headers
//! of GET. Bodies are gzip-compressed when the client asks for it and the `gzip` feature is
//! built in.
//!
//! Why not tiny_http: 0.12 starts a thread per connection without bound, has no limit on the
//! length of a request line or header (a client can grow memory until it runs out), no read
//! deadline, and its TLS cannot ask for client certificates. Those are the limits this server
//! exists to enforce, so the little HTTP/1.1 it needs is written here.

use crate::atomic64::AtomicU64;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A parsed request head. Header names are lower-cased.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path, still percent-encoded, without the query.
    pub path: String,
    /// The raw query string (without `?`), possibly empty.
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// Set by a TLS acceptor: the subject of a verified client certificate, if any.
    pub client_cert: Option<String>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Query pairs, percent-decoded (`+` is a space), in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        parse_query(&self.query)
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The scrape timeout Prometheus announces in `X-Prometheus-Scrape-Timeout-Seconds`.
    pub fn scrape_timeout(&self) -> Option<Duration> {
        let v: f64 = self
            .header("x-prometheus-scrape-timeout-seconds")?
            .trim()
            .parse()
            .ok()?;
        (v.is_finite() && v > 0.0).then(|| Duration::from_secs_f64(v.min(86400.0)))
    }
}

/// An answer. `content_type` empty means none is sent.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type: content_type.into(),
            headers: Vec::new(),
            body: body.into(),
        }
    }
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        let mut b = body.into();
        if !b.ends_with('\n') {
            b.push('\n');
        }
        Response::new(status, "text/plain; charset=utf-8", b)
    }
    pub fn html(body: impl Into<String>) -> Response {
        Response::new(200, "text/html; charset=utf-8", body.into())
    }
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status, "application/json", body)
    }
    pub fn not_found() -> Response {
        Response::text(404, "404 page not found")
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// Answers requests for one route.
pub trait Handler: Send + Sync {
    fn handle(&self, req: &Request) -> Response;
}

impl<F: Fn(&Request) -> Response + Send + Sync> Handler for F {
    fn handle(&self, req: &Request) -> Response {
        self(req)
    }
}

/// A path and what answers it.
#[derive(Clone)]
pub struct Route {
    /// Exact path, or a prefix when `prefix` is set (`/targets` matches `/targets/a/b`).
    pub path: String,
    pub prefix: bool,
    /// Shown on the landing page; empty hides the route there.
    pub title: String,
    pub handler: Arc<dyn Handler>,
}

impl Route {
    pub fn new(path: &str, title: &str, handler: impl Handler + 'static) -> Route {
        Route {
            path: path.into(),
            prefix: false,
            title: title.into(),
            handler: Arc::new(handler),
        }
    }
    pub fn prefix(path: &str, title: &str, handler: impl Handler + 'static) -> Route {
        Route {
            path: path.into(),
            prefix: true,
            title: title.into(),
            handler: Arc::new(handler),
        }
    }
    pub(crate) fn matches(&self, path: &str) -> bool {
        if self.prefix {
            path == self.path
                || (path.starts_with(&self.path)
                    && (self.path.ends_with('/')
                        || path.as_bytes().get(self.path.len()) == Some(&b'/')))
        } else {
            path == self.path
        }
    }
}

/// A byte stream the server can talk HTTP over (plain TCP, or TLS from a [`TlsAcceptor`]).
pub trait Conn: Read + Write + Send {
    fn tcp(&self) -> &TcpStream;
    /// The verified client certificate's subject, for TLS connections that sent one.
    fn client_cert(&self) -> Option<String> {
        None
    }
}

impl Conn for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

/// Turns an accepted TCP connection into a TLS one (handshake included). Implemented by the
/// web configuration (`--web.config.file`); the server itself knows nothing of TLS.
pub trait TlsAcceptor: Send + Sync {
    fn accept(&self, tcp: TcpStream) -> io::Result<Box<dyn Conn>>;
}

/// Decides whether a request may proceed (basic auth); `Err` is the answer to send instead.
pub trait Authenticator: Send + Sync {
    fn check(&self, req: &Request) -> Result<(), Response>;
}

/// Limits and hooks.
#[derive(Clone)]
pub struct Options {
    pub max_workers: usize,
    pub max_head_bytes: usize,
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    /// Idle connections kept at most; the oldest is closed past that.
    pub max_idle: usize,
    /// Connections waiting for a worker at most; past that new ones get 503.
    pub max_queue: usize,
    pub tls: Option<Arc<dyn TlsAcceptor>>,
    pub auth: Option<Arc<dyn Authenticator>>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_workers: 40,
            max_head_bytes: 16 * 1024,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            write_timeout: Duration::from_secs(60),
            max_idle: 1024,
            max_queue: 256,
            tls: None,
            auth: None,
        }
    }
}

/// Counters about the server itself (exposed on /metrics). `crate::atomic64` because mips32
/// (mipsel routers) has no 64-bit atomics.
#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub rejected: AtomicU64,
    pub workers: AtomicUsize,
}

/// Parses a listen address the way node_exporter does: `:9100` means every address,
/// `host:port`, `[v6]:port`.
pub fn parse_listen_address(s: &str) -> Result<Vec<SocketAddr>, String> {
    use std::net::ToSocketAddrs;
    let full = if s.starts_with(':') {
        format!("[::]{s}")
    } else {
        s.to_string()
    };
    let addrs: Vec<SocketAddr> = full
        .to_socket_addrs()
        .map_err(|e| format!("bad listen address {s:?}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("listen address {s:?} resolves to nothing"));
    }
    Ok(addrs)
}

/// Binds `addr` (for `:port`, the IPv6 wildcard, falling back to IPv4 where IPv6 is off).
pub fn bind(addr: &str) -> Result<TcpListener, String> {
    let addrs = parse_listen_address(addr)?;
    let mut last = String::new();
    for a in &addrs {
        match TcpListener::bind(a) {
            Ok(l) => return Ok(l),
            Err(e) => last = format!("listen on {a}: {e}"),
        }
    }
    if addr.starts_with(':') {
        let v4 = format!("0.0.0.0{addr}");
        return TcpListener::bind(&v4).map_err(|e| format!("listen on {v4}: {e}"));
    }
    Err(last)
}

struct Shared {
    routes: Vec<Route>,
    opts: Options,
    queue: Mutex<VecDeque<Pending>>,
    ready: Condvar,
    idle_workers: AtomicUsize,
    returned: Mutex<Vec<Pending>>,
    wake_w: RawFd,
    stats: Arc<Stats>,
}

/// A connection between requests, with any bytes already read past the last request.
struct Pending {
    conn: Option<Box<dyn Conn>>,
    /// Accepted but not yet through the TLS handshake.
    raw: Option<TcpStream>,
    buf: Vec<u8>,
    since: Instant,
}

impl Pending {
    fn fd(&self) -> RawFd {
        match (&self.conn, &self.raw) {
            (Some(c), _) => c.tcp().as_raw_fd(),
            (None, Some(t)) => t.as_raw_fd(),
            _ => -1,
        }
    }
}

/// A running server.
pub struct Server {
    local: SocketAddr,
}

impl Server {
    /// Starts serving `routes` on `listener` in background threads.
    pub fn start(
        listener: TcpListener,
        routes: Vec<Route>,
        opts: Options,
        stats: Arc<Stats>,
    ) -> io::Result<Server> {
        let local = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two descriptors into the array we own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let shared = Arc::new(Shared {
            routes,
            opts,
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            idle_workers: AtomicUsize::new(0),
            returned: Mutex::new(Vec::new()),
            wake_w: fds[1],
            stats,
        });
        let wake_r = fds[0];
        std::thread::Builder::new()
            .name("poller".into())
            .stack_size(128 * 1024)
            .spawn(move || poller(shared, listener, wake_r))?;
        Ok(Server { local })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

fn wake(fd: RawFd) {
    let b = [1u8];
    // SAFETY: writing one byte from a live buffer to our own pipe; a full pipe (EAGAIN) is fine.
    unsafe { libc::write(fd, b.as_ptr().cast(), 1) };
}

fn poller(shared: Arc<Shared>, listener: TcpListener, wake_r: RawFd) {
    let mut idle: Vec<Pending> = Vec::new();
    let mut pfds: Vec<libc::pollfd> = Vec::new();
    loop {
        pfds.clear();
        pfds.push(libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        pfds.push(libc::pollfd {
            fd: wake_r,
            events: libc::POLLIN,
            revents: 0,
        });
        for p in &idle {
            pfds.push(libc::pollfd {
                fd: p.fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: pfds is a valid, initialised array of pollfd of the given length.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 1000) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                std::thread::sleep(Duration::from_millis(10));
            }
            continue;
        }
        // Ready idle connections go to the workers; ones idle too long are closed.
        let now = Instant::now();
        let mut keep = Vec::with_capacity(idle.len());
        for (p, pfd) in idle.drain(..).zip(pfds[2..].iter()) {
            if pfd.revents != 0 {
                dispatch(&shared, p);
            } else if now.duration_since(p.since) < shared.opts.idle_timeout {
                keep.push(p);
            }
        }
        idle = keep;
        if pfds[1].revents != 0 {
            let mut sink = [0u8; 64];
            // SAFETY: draining our own non-blocking pipe into a local buffer.
            while unsafe { libc::read(wake_r, sink.as_mut_ptr().cast(), sink.len()) } > 0 {}
            idle.append(&mut shared.returned.lock().unwrap_or_else(|e| e.into_inner()));
        }
        if pfds[0].revents != 0 {
            loop {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let _ = tcp.set_nodelay(true);
                        idle.push(Pending {
                            conn: None,
                            raw: Some(tcp),
                            buf: Vec::new(),
                            since: now,
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        // EMFILE and friends: back off instead of spinning.
                        std::thread::sleep(Duration::from_millis(50));
                        break;
                    }
                }
            }
        }
        if idle.len() > shared.opts.max_idle {
            let excess = idle.len() - shared.opts.max_idle;
            idle.sort_by_key(|p| p.since);
            idle.drain(..excess);
        }
    }
}

fn dispatch(shared: &Arc<Shared>, p: Pending) {
    let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
    if q.len() >= shared.opts.max_queue {
        drop(q);
        shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
        reject_busy(p);
        return;
    }
    q.push_back(p);
    let queued = q.len();
    let idle = shared.idle_workers.load(Ordering::Acquire);
    let workers = shared.stats.workers.load(Ordering::Acquire);
    drop(q);
    // Compare with the queue, not with zero: an idle worker that was notified but has not
    // woken yet still counts as idle, and several connections must not all wait for it.
    if queued > idle && workers < shared.opts.max_workers {
        shared.stats.workers.fetch_add(1, Ordering::AcqRel);
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("worker".into())
            .stack_size(512 * 1024)
            .spawn(move || worker(s));
        if spawned.is_err() {
            shared.stats.workers.fetch_sub(1, Ordering::AcqRel);
        }
    } else {
        shared.ready.notify_one();
    }
}

fn reject_busy(p: Pending) {
    if let Some(mut tcp) = p.raw {
        let _ = tcp.set_write_timeout(Some(Duration::from_millis(200)));
        let _ = tcp.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
}

fn worker(shared: Arc<Shared>) {
    loop {
        let p = {
            let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(p) = q.pop_front() {
                    break p;
                }
                shared.idle_workers.fetch_add(1, Ordering::AcqRel);
                q = shared.ready.wait(q).unwrap_or_else(|e| e.into_inner());
                shared.idle_workers.fetch_sub(1, Ordering::AcqRel);
            }
        };
        if let Some(p) = serve_conn(&shared, p) {
            shared
                .returned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(p);
            wake(shared.wake_w);
        }
    }
}

/// Outcome of reading a request head.
enum Head {
    Ok(Request, usize),
    Closed,
    Bad(u16, &'static str),
}

/// Serves requests on one connection until it goes idle (returned for parking) or closes.
fn serve_conn(shared: &Shared, mut p: Pending) -> Option<Pending> {
    let opts = &shared.opts;
    let mut conn: Box<dyn Conn> = match (p.conn.take(), p.raw.take()) {
        (Some(c), _) => c,
        (None, Some(tcp)) => {
            let _ = tcp.set_read_timeout(Some(opts.head_timeout));
            let _ = tcp.set_write_timeout(Some(opts.write_timeout));
            match &opts.tls {
                Some(tls) => tls.accept(tcp).ok()?,
                None => Box::new(tcp),
            }
        }
        (None, None) => return None,
    };
    loop {
        let head = read_head(conn.as_mut(), &mut p.buf, opts);
        let (mut req, used) = match head {
            Head::Ok(r, used) => (r, used),
            Head::Closed => return None,
            Head::Bad(status, msg) => {
                let resp = Response::text(status, msg);
                let _ = write_response(conn.as_mut(), "GET", &resp, false, false);
                return None;
            }
        };
        p.buf.drain(..used);
        shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        req.client_cert = conn.client_cert();
        let keep_alive = wants_keep_alive(&req);
        // A request body is never expected; if one is announced, answer and close rather than
        // guess where the next request starts.
        let has_body = req.header("transfer-encoding").is_some()
            || req
                .header("content-length")
                .is_some_and(|v| v.trim() != "0");
        let resp = route(shared, &req);
        let gzip = accepts_gzip(&req);
        let keep = keep_alive && !has_body;
        if write_response(conn.as_mut(), &req.method, &resp, gzip, keep).is_err() || !keep {
            return None;
        }
        if p.buf.is_empty() {
            p.conn = Some(conn);
            p.since = Instant::now();
            return Some(p);
        }
        // Pipelined bytes already here: keep going on this worker.
    }
}

fn read_head(conn: &mut dyn Conn, buf: &mut Vec<u8>, opts: &Options) -> Head {
    let deadline = Instant::now() + opts.head_timeout;
    let mut scanned = 0;
    loop {
        if let Some(end) = find_head_end(buf, scanned) {
            return match parse_head(&buf[..end]) {
                Ok(r) => Head::Ok(r, end),
                Err(msg) => Head::Bad(400, msg),
            };
        }
        scanned = buf.len().saturating_sub(3);
        if buf.len() >= opts.max_head_bytes {
            return Head::Bad(431, "request header fields too large");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return if buf.is_empty() {
                Head::Closed
            } else {
                Head::Bad(408, "request timeout")
            };
        }
        let _ = conn.tcp().set_read_timeout(Some(left));
        let mut chunk = [0u8; 4096];
        let want = chunk.len().min(opts.max_head_bytes - buf.len());
        match conn.read(&mut chunk[..want]) {
            Ok(0) => return Head::Closed,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return if buf.is_empty() {
                    Head::Closed
                } else {
                    Head::Bad(408, "request timeout")
                };
            }
            Err(_) => return Head::Closed,
        }
    }
}

/// Index just past the blank line ending the head, accepting bare `\n` line ends.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

fn parse_head(head: &[u8]) -> Result<Request, &'static str> {
    let text = std::str::from_utf8(head).map_err(|_| "request head is not valid UTF-8")?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().ok_or("empty request")?;
    let mut parts = line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err("malformed request line"),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("malformed method");
    }
    if !(version == "HTTP/1.1" || version == "HTTP/1.0") {
        return Err("unsupported HTTP version");
    }
    // Absolute form (proxies): keep only the path and query.
    let target = match target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("malformed request target");
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for l in lines {
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').ok_or("malformed header line")?;
        if k.is_empty() || k.bytes().any(|b| b <= b' ' || b == b':' || b >= 0x7f) {
            return Err("malformed header name");
        }
        if headers.len() >= 100 {
            return Err("too many header fields");
        }
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    if version == "HTTP/1.0" {
        headers.push(("x-promlet-http10".into(), "1".into()));
    }
    Ok(Request {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers,
        client_cert: None,
    })
}

fn wants_keep_alive(req: &Request) -> bool {
    let conn = req.header("connection").unwrap_or("").to_ascii_lowercase();
    if req.header("x-promlet-http10").is_some() {
        conn.contains("keep-alive")
    } else {
        !conn.contains("close")
    }
}

fn accepts_gzip(req: &Request) -> bool {
    req.header("accept-encoding").is_some_and(|v| {
        v.split(',').any(|enc| {
            let mut it = enc.split(';');
            let name = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>() == Ok(0.0))
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
        })
    })
}

fn route(shared: &Shared, req: &Request) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::text(405, "method not allowed").with_header("Allow", "GET, HEAD");
    }
    if let Some(auth) = &shared.opts.auth {
        if let Err(resp) = auth.check(req) {
            return resp;
        }
    }
    // The longest matching route wins, so `/targets/x` can live beside `/targets`.
    let best = shared
        .routes
        .iter()
        .filter(|r| r.matches(&req.path))
        .max_by_key(|r| (r.path.len(), !r.prefix));
    match best {
        Some(r) => r.handler.handle(req),
        None if req.path == "/" => landing_page(&shared.routes),
        None => Response::not_found(),
    }
}

/// The page at `/`: what this promlet serves.
pub fn landing_page(routes: &[Route]) -> Response {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>promlet</title></head>\n<body>\n\
         <h1>promlet</h1>\n<p>A tiny Prometheus agent.</p>\n<ul>\n",
    );
    for r in routes.iter().filter(|r| !r.title.is_empty()) {
        let href = html_escape(&r.path);
        s.push_str(&format!(
            "<li><a href=\"{href}\">{href}</a> {}</li>\n",
            html_escape(&r.title)
        ));
    }
    s.push_str(&format!(
        "</ul>\n<p>version {}</p>\n</body></html>\n",
        html_escape(env!("CARGO_PKG_VERSION"))
    ));
    Response::html(s)
}

pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

fn write_response(
    conn: &mut dyn Conn,
    method: &str,
    resp: &Response,
    gzip: bool,
    keep: bool,
) -> io::Result<()> {
    #[cfg(feature = "gzip")]
    let compressed = (gzip
        && resp.body.len() >= 512
        && !resp
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-encoding")))
    .then(|| crate::gzip::compress(&resp.body));
    #[cfg(not(feature = "gzip"))]
    let compressed: Option<Vec<u8>> = {
        let _ = gzip;
        None
    };
    let body = compressed.as_deref().unwrap_or(&resp.body);
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    if !resp.content_type.is_empty() {
        head.push_str(&format!("Content-Type: {}\r\n", resp.content_type));
    }
    if compressed.is_some() {
        head.push_str("Content-Encoding: gzip\r\n");
    }
    head.push_str("Vary: Accept-Encoding\r\n");
    for (k, v) in &resp.headers {
        // Header values come from code, but never let one split the response.
        if !k.contains(['\r', '\n']) && !v.contains(['\r', '\n']) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    if !keep {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(body);
    }
    conn.write_all(&out)?;
    conn.flush()
}

/// Percent-decodes `s`; with `plus` set, `+` becomes a space (query strings).
pub fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(v);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Splits and decodes a query string; undecodable pairs are skipped.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_head() {
        let r = parse_head(
            b"GET /metrics?a=1&b=x+y%21 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/metrics");
        assert_eq!(r.query_param("b").unwrap(), "x y!");
        assert_eq!(r.header("ACCEPT-ENCODING"), Some("gzip"));
        assert!(accepts_gzip(&r));
    }

    #[test]
    fn rejects_garbage_heads() {
        for bad in [
            &b"\x16\x03\x01garbage\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET / HTTP/9\r\n\r\n",
            b"GET nopath HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
        ] {
            assert!(
                parse_head(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn head_end_accepts_bare_newlines() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nrest", 0), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest", 0), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n", 0), None);
    }

    #[test]
    fn gzip_negotiation() {
        let mut r =
            parse_head(b"GET / HTTP/1.1\r\nAccept-Encoding: gzip;q=0, deflate\r\n\r\n").unwrap();
        assert!(!accepts_gzip(&r));
        r.headers = vec![("accept-encoding".into(), "deflate, GZIP;q=0.5".into())];
        assert!(accepts_gzip(&r));
    }

    #[test]
    fn prefix_routes_match_on_segment_boundaries() {
        let r = Route::prefix("/targets", "", |_: &Request| Response::not_found());
        assert!(r.matches("/targets"));
        assert!(r.matches("/targets/a/b"));
        assert!(!r.matches("/targetsx"));
    }

    #[test]
    fn listen_address_forms() {
        assert!(parse_listen_address(":9100").is_ok());
        assert!(parse_listen_address("127.0.0.1:0").is_ok());
        assert!(parse_listen_address("nonsense").is_err());
    }
}
