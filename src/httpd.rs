//! The HTTP/1.1 server every part answers through.
//!
//! Shape: one poller thread owns the listening sockets and every connection that is not being
//! answered: new ones, kept-alive ones, ones in a TLS handshake, ones sending a request head,
//! ones draining after an error answer. It waits on them with poll(2) and does all of that
//! non-blocking: a handshake must finish within `handshake_timeout` of the accept and a head
//! within `head_timeout` of its first byte (totals, not per read), a head is capped at
//! `max_head_bytes`. Only a complete request (head, and the small body if one is announced)
//! goes to a worker. Workers are threads from a bounded pool (started on demand, up to
//! `max_workers`); a worker routes, writes the answer and gives the connection back. So idle
//! and slow clients cost a file descriptor and their buffers, never a thread, and no
//! number of them delays a well-behaved scrape. The poller holds at most `max_idle`
//! connections (sized from the open-files limit); past that the oldest is closed.
//!
//! Answers: 400 for a malformed request line or header (NUL, bare CR, conflicting
//! `Content-Length`), 405 (with `Allow`) for methods other than GET and HEAD, 404 for unknown
//! paths, 408 when the head does not arrive in time, 413 for a body over `max_body_bytes`, 431
//! when the head is too large, 503 when the queue for workers is full. After an error answer,
//! and whenever the server closes, it shuts its write side and drains what the client still
//! sends (bounded), so the client reads the answer rather than a reset. HEAD sends the headers
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
    #[cfg(feature = "hdhomerun")]
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
    /// The body came from `crate::spare::take` and goes back there once written.
    pub pooled: bool,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type: content_type.into(),
            headers: Vec::new(),
            body: body.into(),
            pooled: false,
        }
    }

    /// Like [`Response::new`], for a body taken from `crate::spare` (a scrape's, served on
    /// every scrape): it is given back after the write, so the next scrape on this worker
    /// reuses its capacity.
    pub fn spare(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            pooled: true,
            ..Response::new(status, content_type, body)
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
    #[cfg(any(feature = "http-sd", feature = "packet-sd"))]
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
    pub fn matches(&self, path: &str) -> bool {
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
///
/// The poller thread reads from it with the socket non-blocking; a worker writes the answer
/// with the socket blocking (under the write timeout).
pub trait Conn: Read + Write + Send {
    fn tcp(&self) -> &TcpStream;
    /// The verified client certificate's subject, for TLS connections that sent one.
    fn client_cert(&self) -> Option<String> {
        None
    }
    /// Moves a handshake on with what the socket has, without blocking: `Ok(true)` once the
    /// connection carries application data. Plain TCP has no handshake.
    fn handshake(&mut self) -> io::Result<bool> {
        Ok(true)
    }
    /// True while protocol bytes wait to be sent (the poller then also waits for POLLOUT).
    fn wants_write(&self) -> bool {
        false
    }
    /// Says goodbye at the protocol level before the write side is shut down (TLS close_notify).
    fn close_notify(&mut self) {}
}

impl Conn for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

/// Wraps an accepted TCP connection for TLS. Implemented by the web configuration
/// (`--web.config.file`); the server itself knows nothing of TLS. The handshake is not done
/// here: the poller drives it through [`Conn::handshake`] on the non-blocking socket, under a
/// total deadline, so a client that drips its ClientHello holds no worker.
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
    /// A request body (none of promlet's routes takes one) is read and dropped up to this size;
    /// past it the answer is 413.
    pub max_body_bytes: usize,
    /// The whole head must arrive within this time of its first byte (408 otherwise).
    pub head_timeout: Duration,
    /// The whole TLS handshake must be done within this time of the accept.
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    /// The whole answer must be written within this time (a worker's longest hold).
    pub write_timeout: Duration,
    /// Connections the poller holds at most (idle, reading a head, in a handshake, draining);
    /// past that the oldest is closed. [`idle_cap`] sizes it from the open-files limit.
    pub max_idle: usize,
    /// Requests waiting for a worker at most; past that they get 503.
    pub max_queue: usize,
    pub tls: Option<Arc<dyn TlsAcceptor>>,
    pub auth: Option<Arc<dyn Authenticator>>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_workers: 40,
            max_head_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            head_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            write_timeout: Duration::from_secs(60),
            max_idle: idle_cap(40),
            max_queue: 256,
            tls: None,
            auth: None,
        }
    }
}

/// How many connections the poller may hold: the soft open-files limit minus a reserve for what
/// collectors, upstream clients and children open while serving (a few descriptors per busy
/// worker), and for the listeners and pipes. Never below 16, never above 65536 (memory).
pub fn idle_cap(max_workers: usize) -> usize {
    // None: unlimited.
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX));
    idle_cap_for(soft, max_workers)
}

fn idle_cap_for(nofile: usize, max_workers: usize) -> usize {
    #[cfg(feature = "node")]
    let held = crate::collector::HELD_FDS;
    #[cfg(not(feature = "node"))]
    let held = 0;
    let reserve = max_workers
        .saturating_mul(2)
        .saturating_add(64)
        .saturating_add(held);
    nofile.saturating_sub(reserve).clamp(16, 65536)
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

/// After an error answer the client's unread bytes are read and dropped, up to this many and
/// for this long, so its kernel does not turn our close into a reset that eats the answer.
const DRAIN_BYTES: usize = 1 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Where a connection the poller owns stands.
enum Stage {
    /// TLS handshake under way (deadline: `handshake_timeout` from the accept).
    Handshake,
    /// Between requests or reading a head (deadline: `head_timeout` from its first byte).
    Head,
    /// Head read; waiting for the announced body of this many bytes in all (head included).
    Body(Request, usize),
    /// A complete request (taking this many bytes of `buf`), for a worker.
    Ready(Request, usize),
    /// Answered and shut down for writing; reading and dropping what the client still sends.
    Drain,
}

/// One client connection and what has been read from it.
struct Pending {
    conn: Box<dyn Conn>,
    buf: Vec<u8>,
    /// `buf` has no head end before this offset.
    scanned: usize,
    stage: Stage,
    /// Accepted or last answered: the start of the idle timeout.
    since: Instant,
    /// The total deadline of the handshake, head or drain under way; `None` while idle.
    deadline: Option<Instant>,
    drained: usize,
}

impl Pending {
    fn fd(&self) -> RawFd {
        self.conn.tcp().as_raw_fd()
    }
}

/// A running server.
pub struct Server {
    local: Vec<SocketAddr>,
}

impl Server {
    /// Starts serving `routes` on `listener` in background threads (Packet SD's own server).
    #[cfg(feature = "packet-sd")]
    pub fn start(
        listener: TcpListener,
        routes: Vec<Route>,
        opts: Options,
        stats: Arc<Stats>,
    ) -> io::Result<Server> {
        Server::start_all(vec![listener], routes, opts, stats)
    }

    /// Starts serving `routes` on every listener (one poller for all of them).
    pub fn start_all(
        listeners: Vec<TcpListener>,
        routes: Vec<Route>,
        opts: Options,
        stats: Arc<Stats>,
    ) -> io::Result<Server> {
        let mut local = Vec::with_capacity(listeners.len());
        for l in &listeners {
            local.push(l.local_addr()?);
            l.set_nonblocking(true)?;
        }
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
            .spawn(move || poller(shared, listeners, wake_r))?;
        Ok(Server { local })
    }

    /// The first bound address.
    #[cfg(feature = "packet-sd")]
    pub fn local_addr(&self) -> SocketAddr {
        self.local[0]
    }

    /// Every bound address, in the order of the listeners.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }
}

fn wake(fd: RawFd) {
    let b = [1u8];
    // SAFETY: writing one byte from a live buffer to our own pipe; a full pipe (EAGAIN) is fine.
    unsafe { libc::write(fd, b.as_ptr().cast(), 1) };
}

/// The poller: accepts, drives TLS handshakes, reads request heads, answers malformed, slow and
/// oversized ones, drains after error answers, and hands complete requests to the workers. All
/// of it non-blocking, so no number of slow clients holds a worker.
fn poller(shared: Arc<Shared>, listeners: Vec<TcpListener>, wake_r: RawFd) {
    let opts = &shared.opts;
    let nl = listeners.len();
    let mut conns: Vec<Pending> = Vec::new();
    let mut pfds: Vec<libc::pollfd> = Vec::new();
    loop {
        pfds.clear();
        for l in &listeners {
            pfds.push(libc::pollfd {
                fd: l.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        pfds.push(libc::pollfd {
            fd: wake_r,
            events: libc::POLLIN,
            revents: 0,
        });
        let mut next = Instant::now() + Duration::from_secs(1);
        for p in &conns {
            // Not while draining: the write side is shut, what TLS still queues never leaves.
            let events = if p.conn.wants_write() && !matches!(p.stage, Stage::Drain) {
                libc::POLLIN | libc::POLLOUT
            } else {
                libc::POLLIN
            };
            pfds.push(libc::pollfd {
                fd: p.fd(),
                events,
                revents: 0,
            });
            next = next.min(p.deadline.unwrap_or(p.since + opts.idle_timeout));
        }
        let wait = next.saturating_duration_since(Instant::now());
        let wait_ms = wait.as_millis().min(1000) as libc::c_int + 1;
        // SAFETY: pfds is a valid, initialised array of pollfd of the given length.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, wait_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                std::thread::sleep(Duration::from_millis(10));
            }
            continue;
        }
        let now = Instant::now();
        let mut keep = Vec::with_capacity(conns.len());
        for (p, pfd) in conns.drain(..).zip(pfds[nl + 1..].iter()) {
            let p = if pfd.revents != 0 {
                advance(&shared, p, now)
            } else {
                Some(p)
            };
            // Also for connections that just sent something: a client that drips a byte
            // before every wake-up must still meet its total deadline.
            keep.extend(p.and_then(|p| expire(opts, p, now)));
        }
        conns = keep;
        if pfds[nl].revents != 0 {
            let mut sink = [0u8; 64];
            // SAFETY: draining our own non-blocking pipe into a local buffer.
            while unsafe { libc::read(wake_r, sink.as_mut_ptr().cast(), sink.len()) } > 0 {}
            let back: Vec<Pending> =
                std::mem::take(&mut *shared.returned.lock().unwrap_or_else(|e| e.into_inner()));
            for p in back {
                // Bytes may already wait (pipelined, or inside TLS): look before polling.
                conns.extend(advance(&shared, p, now));
            }
        }
        for (l, pfd) in listeners.iter().zip(&pfds[..nl]) {
            if pfd.revents != 0 {
                accept_all(&shared, l, &mut conns, now);
            }
        }
        if conns.len() > opts.max_idle {
            // Past the cap the connections that have waited longest go, not the newcomers: a
            // scraper that connects now is served even when idle clients fill the table.
            // `conns` is in the order connections came to the poller (kept ones stay in place,
            // new and returned ones are appended), so the oldest are at the front: no sort.
            let excess = conns.len() - opts.max_idle;
            conns.drain(..excess);
        }
    }
}

fn accept_all(shared: &Arc<Shared>, l: &TcpListener, conns: &mut Vec<Pending>, now: Instant) {
    let opts = &shared.opts;
    // Past the cap by a few at most: the poller closes the oldest before it accepts more, so
    // the descriptors in use stay within the reserve `idle_cap` leaves.
    while conns.len() < opts.max_idle.saturating_add(32) {
        match l.accept() {
            Ok((tcp, _)) => {
                let _ = tcp.set_nodelay(true);
                if tcp.set_nonblocking(true).is_err() {
                    continue;
                }
                let (conn, stage, deadline) = match &opts.tls {
                    Some(tls) => match tls.accept(tcp) {
                        Ok(c) => (c, Stage::Handshake, Some(now + opts.handshake_timeout)),
                        Err(_) => continue,
                    },
                    None => (Box::new(tcp) as Box<dyn Conn>, Stage::Head, None),
                };
                let p = Pending {
                    conn,
                    buf: Vec::new(),
                    scanned: 0,
                    stage,
                    since: now,
                    deadline,
                    drained: 0,
                };
                // The client may have sent its request with the connect.
                conns.extend(advance(shared, p, now));
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

/// What to do with a connection after reading what it had.
enum Next {
    /// Keep it in the poller.
    Park,
    /// Its stage is `Ready`: a worker's turn.
    Ready,
    Close,
}

/// Moves one connection on with what its socket has; returns it if the poller keeps it.
fn advance(shared: &Arc<Shared>, mut p: Pending, now: Instant) -> Option<Pending> {
    match progress(&shared.opts, &mut p, now) {
        Next::Park => Some(p),
        Next::Close => None,
        Next::Ready => dispatch(shared, p, now),
    }
}

fn progress(opts: &Options, p: &mut Pending, now: Instant) -> Next {
    loop {
        match &p.stage {
            Stage::Handshake => match p.conn.handshake() {
                Ok(true) => {
                    p.stage = Stage::Head;
                    p.deadline = None;
                }
                Ok(false) => return Next::Park,
                Err(_) => return Next::Close,
            },
            Stage::Head => match scan(opts, &p.buf, &mut p.scanned) {
                Scan::Partial => {}
                Scan::Bad(status, msg) => {
                    answer_and_drain(p, status, msg, now);
                    continue;
                }
                Scan::Head(req, end, 0) => {
                    p.stage = Stage::Ready(req, end);
                    continue;
                }
                Scan::Head(req, end, body) => {
                    p.stage = Stage::Body(req, end + body);
                    continue;
                }
            },
            Stage::Body(_, need) => {
                if p.buf.len() >= *need {
                    if let Stage::Body(req, need) = std::mem::replace(&mut p.stage, Stage::Head) {
                        p.stage = Stage::Ready(req, need);
                    }
                    continue;
                }
            }
            Stage::Ready(..) => return Next::Ready,
            Stage::Drain => return drain(p),
        }
        // Head or Body needs more bytes.
        let cap = opts.max_head_bytes.saturating_add(opts.max_body_bytes);
        let mut chunk = [0u8; 4096];
        let want = chunk.len().min(cap.saturating_sub(p.buf.len())).max(1);
        match p.conn.read(&mut chunk[..want]) {
            Ok(0) => return Next::Close,
            Ok(n) => {
                if p.buf.is_empty() && p.deadline.is_none() {
                    p.deadline = Some(now + opts.head_timeout);
                }
                p.buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Park,
            Err(_) => return Next::Close,
        }
    }
}

/// Closes what ran out of time: a handshake or drain at its deadline, a head cut short (408),
/// an idle connection after `idle_timeout`.
fn expire(opts: &Options, mut p: Pending, now: Instant) -> Option<Pending> {
    match p.deadline {
        Some(d) if now >= d => match p.stage {
            Stage::Head | Stage::Body(..) if !p.buf.is_empty() => {
                answer_and_drain(&mut p, 408, "request timeout", now);
                Some(p)
            }
            _ => None,
        },
        Some(_) => Some(p),
        None => (now.duration_since(p.since) < opts.idle_timeout).then_some(p),
    }
}

/// Sends an error answer from the poller (the socket buffer of a connection that sent us a
/// request has room for it), shuts the write side, and starts draining.
fn answer_and_drain(p: &mut Pending, status: u16, msg: &str, now: Instant) {
    let resp = Response::text(status, msg);
    // Non-blocking: what does not fit the socket buffer now is dropped (it always fits).
    let _ = write_response(
        p.conn.as_mut(),
        "GET",
        &resp,
        false,
        false,
        false,
        DRAIN_TIME,
    );
    close_gracefully(p, now);
}

/// Shuts the write side (the client reads our answer, then EOF) and drains what it still sends.
fn close_gracefully(p: &mut Pending, now: Instant) {
    p.conn.close_notify();
    let _ = p.conn.tcp().shutdown(std::net::Shutdown::Write);
    p.stage = Stage::Drain;
    p.buf = Vec::new();
    p.deadline = Some(now + DRAIN_TIME);
    p.drained = 0;
}

fn drain(p: &mut Pending) -> Next {
    let mut sink = [0u8; 4096];
    loop {
        // The raw socket: after an error answer nothing the client sends is looked at.
        match p.conn.tcp().read(&mut sink) {
            Ok(0) => return Next::Close,
            Ok(n) => {
                p.drained = p.drained.saturating_add(n);
                if p.drained > DRAIN_BYTES {
                    return Next::Close;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Park,
            Err(_) => return Next::Close,
        }
    }
}

/// Queues a complete request for a worker, starting one if none is free; a full queue is
/// answered 503 by the poller. Returns the connection if the poller keeps it.
fn dispatch(shared: &Arc<Shared>, mut p: Pending, now: Instant) -> Option<Pending> {
    let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
    if q.len() >= shared.opts.max_queue {
        drop(q);
        shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
        answer_and_drain(&mut p, 503, "too many requests in flight", now);
        return Some(p);
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
    None
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
        if let Some(p) = serve_request(&shared, p) {
            shared
                .returned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(p);
            wake(shared.wake_w);
        }
    }
}

/// Answers the complete request the poller read, then gives the connection back to the poller
/// (to wait for the next request, or to drain before closing).
fn serve_request(shared: &Shared, mut p: Pending) -> Option<Pending> {
    let opts = &shared.opts;
    let Stage::Ready(mut req, used) = std::mem::replace(&mut p.stage, Stage::Head) else {
        return None;
    };
    p.buf.drain(..used.min(p.buf.len()));
    shared.stats.requests.fetch_add(1, Ordering::Relaxed);
    req.client_cert = p.conn.client_cert();
    // A chunked body is never read: answer, then close rather than guess where the next
    // request starts.
    let keep = wants_keep_alive(&req) && req.header("transfer-encoding").is_none();
    let http10 = req.header("x-promlet-http10").is_some();
    let resp = route(shared, &req);
    let gzip = accepts_gzip(&req);
    if p.conn.tcp().set_nonblocking(false).is_err() {
        return None;
    }
    let wrote = write_response(
        p.conn.as_mut(),
        &req.method,
        &resp,
        gzip,
        keep,
        http10,
        opts.write_timeout,
    );
    if resp.pooled {
        crate::spare::give_back(resp.body);
    }
    if wrote.is_err() || p.conn.tcp().set_nonblocking(true).is_err() {
        return None;
    }
    let now = Instant::now();
    p.since = now;
    p.scanned = 0;
    if !keep {
        close_gracefully(&mut p, now);
    } else if p.buf.is_empty() {
        // An idle connection keeps no buffer: thousands of them cost descriptors, not memory.
        p.buf = Vec::new();
        p.deadline = None;
    } else {
        p.deadline = Some(now + opts.head_timeout);
    }
    Some(p)
}

/// What the bytes read so far hold.
enum Scan {
    Partial,
    /// A head of this length, announcing a body of this length.
    Head(Request, usize, usize),
    Bad(u16, &'static str),
}

/// Looks for a complete head in `buf` (no head end before `*scanned`) and checks it.
fn scan(opts: &Options, buf: &[u8], scanned: &mut usize) -> Scan {
    let Some(end) = find_head_end(buf, *scanned) else {
        *scanned = buf.len().saturating_sub(3);
        if buf.len() >= opts.max_head_bytes {
            return Scan::Bad(431, "request header fields too large");
        }
        return Scan::Partial;
    };
    if end > opts.max_head_bytes {
        return Scan::Bad(431, "request header fields too large");
    }
    let req = match buf.get(..end).map(parse_head) {
        Some(Ok(r)) => r,
        Some(Err(msg)) => return Scan::Bad(400, msg),
        None => return Scan::Bad(400, "malformed request"),
    };
    match body_length(&req) {
        Err(msg) => Scan::Bad(400, msg),
        Ok(n) if n > opts.max_body_bytes as u64 => Scan::Bad(413, "request body too large"),
        Ok(n) => Scan::Head(req, end, n as usize),
    }
}

/// The announced body length (RFC 9112 6.3): several `Content-Length` values must agree, a
/// `Transfer-Encoding` beside one is refused (request smuggling), a chunked body counts as none
/// (the connection is closed after the answer).
fn body_length(req: &Request) -> Result<u64, &'static str> {
    let mut len: Option<u64> = None;
    let mut te = false;
    for (k, v) in &req.headers {
        if k == "transfer-encoding" {
            te = true;
        } else if k == "content-length" {
            for part in v.split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("malformed content-length");
                }
                let n: u64 = part.parse().map_err(|_| "malformed content-length")?;
                if len.is_some_and(|l| l != n) {
                    return Err("conflicting content-length headers");
                }
                len = Some(n);
            }
        }
    }
    if te && len.is_some() {
        return Err("both transfer-encoding and content-length");
    }
    Ok(len.unwrap_or(0))
}

/// Checks a complete request head the way the server does (parse, then the body rules).
pub fn check_request_head(head: &[u8]) -> Result<Request, &'static str> {
    let req = parse_head(head)?;
    body_length(&req)?;
    Ok(req)
}

/// Index just past the blank line ending the head, accepting bare `\n` line ends.
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
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
    // RFC 9112 2.2: a bare CR is an error, and NUL has no place in a field; either lets two
    // parsers disagree about where a header ends.
    for (i, &b) in head.iter().enumerate() {
        if b == 0 {
            return Err("NUL in request head");
        }
        if b == b'\r' && head.get(i + 1) != Some(&b'\n') {
            return Err("bare CR in request head");
        }
    }
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
    answer(&shared.routes, req)
}

/// Answers `req` from `routes`: the longest matching route (so `/targets/x` can live beside
/// `/targets`), else the landing page at `/`, else 404. Also used by a handler that swaps its
/// route table on reload.
pub fn answer(routes: &[Route], req: &Request) -> Response {
    let best = routes
        .iter()
        .filter(|r| r.matches(&req.path))
        .max_by_key(|r| (r.path.len(), !r.prefix));
    match best {
        Some(r) => r.handler.handle(req),
        None if req.path == "/" => landing_page(routes),
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
    http10: bool,
    write_timeout: Duration,
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
    } else if http10 {
        // HTTP/1.0 closes by default: say that this connection stays open.
        head.push_str("Connection: keep-alive\r\n");
    }
    head.push_str("\r\n");
    let body = if method == "HEAD" { &[][..] } else { body };
    // A small answer goes out in one write; a large one as the head, then the body, so
    // that it is not copied (the sockets have TCP_NODELAY: the head does not wait).
    if body.len() <= 16 * 1024 {
        let mut out = Vec::with_capacity(head.len() + body.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(body);
        send(conn, &[&out], write_timeout)
    } else {
        send(conn, &[head.as_bytes(), body], write_timeout)
    }
}

/// Writes `parts` whole, in order, within `write_timeout`, then flushes.
fn send(conn: &mut dyn Conn, parts: &[&[u8]], write_timeout: Duration) -> io::Result<()> {
    // One deadline for the whole answer, not per write: a client that reads a byte now and
    // then holds the worker for `write_timeout` at most.
    let deadline = Instant::now() + write_timeout;
    let left = || {
        let d = deadline.saturating_duration_since(Instant::now());
        (!d.is_zero())
            .then_some(d)
            .ok_or(io::Error::from(io::ErrorKind::TimedOut))
    };
    for out in parts {
        let mut off = 0;
        while off < out.len() {
            conn.tcp().set_write_timeout(Some(left()?))?;
            let end = out.len().min(off + 16 * 1024);
            match conn.write(out.get(off..end).unwrap_or_default()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    conn.tcp().set_write_timeout(Some(left()?))?;
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
        #[cfg(feature = "hdhomerun")]
        assert_eq!(r.query_param("b").unwrap(), "x y!");
        assert_eq!(r.query, "a=1&b=x+y%21");
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
    fn nul_and_bare_cr_are_refused() {
        assert!(parse_head(b"GET / HTTP/1.1\r\nX: a\0b\r\n\r\n").is_err());
        assert!(parse_head(b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n").is_err());
        assert!(parse_head(b"GET / HTTP/1.1\rX: a\r\n\r\n").is_err());
        assert!(parse_head(b"GET / HTTP/1.1\nX: a\n\n").is_ok());
    }

    #[test]
    fn content_length_rules() {
        let len = |h: &str| {
            let head = format!("GET / HTTP/1.1\r\n{h}\r\n");
            check_request_head(head.as_bytes()).and_then(|r| body_length(&r))
        };
        assert_eq!(len(""), Ok(0));
        assert_eq!(len("Content-Length: 12\r\n"), Ok(12));
        assert_eq!(len("Content-Length: 5\r\nContent-Length: 5\r\n"), Ok(5));
        assert_eq!(len("Content-Length: 5, 5\r\n"), Ok(5));
        assert!(len("Content-Length: 5\r\nContent-Length: 6\r\n").is_err());
        assert!(len("Content-Length: 5, 6\r\n").is_err());
        assert!(len("Content-Length: +5\r\n").is_err());
        assert!(len("Content-Length: \r\n").is_err());
        assert!(len("Content-Length: 99999999999999999999999\r\n").is_err());
        assert!(len("Content-Length: 1\r\nTransfer-Encoding: chunked\r\n").is_err());
        assert_eq!(len("Transfer-Encoding: chunked\r\n"), Ok(0));
    }

    #[test]
    fn scan_caps_heads_and_bodies() {
        let opts = Options {
            max_head_bytes: 64,
            max_body_bytes: 10,
            ..Options::default()
        };
        let mut at = 0;
        assert!(matches!(
            scan(&opts, b"GET / HTTP/1.1\r\nX: y", &mut at),
            Scan::Partial
        ));
        // The next scan starts near the end, not from the start.
        assert_eq!(at, 17);
        let big = [b'a'; 64];
        assert!(matches!(scan(&opts, &big, &mut 0), Scan::Bad(431, _)));
        let body = b"GET / HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
        assert!(matches!(scan(&opts, body, &mut 0), Scan::Bad(413, _)));
        let body = b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\n";
        assert!(matches!(scan(&opts, body, &mut 0), Scan::Head(_, 37, 3)));
    }

    #[test]
    fn idle_cap_leaves_a_reserve() {
        #[cfg(feature = "node")]
        let held = crate::collector::HELD_FDS;
        #[cfg(not(feature = "node"))]
        let held = 0;
        assert_eq!(idle_cap_for(1024, 40), 1024 - 144 - held);
        assert_eq!(idle_cap_for(100, 40), 16);
        assert_eq!(idle_cap_for(1 << 20, 40), 65536);
        assert!(idle_cap(40) >= 16);
    }

    #[test]
    fn listen_address_forms() {
        assert!(parse_listen_address(":9100").is_ok());
        assert!(parse_listen_address("127.0.0.1:0").is_ok());
        assert!(parse_listen_address("nonsense").is_err());
    }
}
