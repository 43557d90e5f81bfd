//! promlet's one HTTP/1.1 client (RFC 9112), for the proxy's upstreams, the Packet SD API and
//! push mode's remote write: GET, or POST with a body; one request per connection (`Connection: close`), `Content-Length`, chunked or
//! close-delimited bodies, and one deadline for the whole exchange (connect, TLS, request,
//! head and body). HTTPS goes through rustls when the `tls` feature is built in. Redirects are
//! never followed: a 3xx is an answer like any other, so a token sent to one host never
//! reaches another.
//!
//! Two ways to use it: [`get`] (the proxy) reads a 200 answer whole, gunzipped, and calls
//! anything else an error; [`open`] (Packet SD, push mode) returns any status with its headers and a
//! body to stream, capped in size, optionally through an HTTP `CONNECT` proxy from the
//! environment ([`Proxy::from_env`]).
//!
//! Why not ureq: with default features off it still brings its own HTTP stack, `http` types and
//! URL handling (about 125 KB of the static build, and the router build's whole budget is
//! 1 MiB), while promlet needs a GET with a deadline.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

#[cfg(any(feature = "proxy", feature = "push"))]
pub mod auth;
pub mod response;
#[cfg(any(feature = "packet-sd", feature = "push"))]
mod retry_after;
#[cfg(any(feature = "packet-sd", feature = "push"))]
mod stream;
mod tunnel;

#[cfg(any(feature = "packet-sd", feature = "push"))]
pub use retry_after::parse_retry_after;
#[cfg(feature = "packet-sd")]
pub use stream::open;
#[cfg(feature = "push")]
pub use stream::Kept;
#[cfg(any(feature = "packet-sd", feature = "push"))]
pub use stream::Request;
#[cfg(feature = "packet-sd")]
pub use stream::{Body, Response};
pub use tunnel::Proxy;

/// Largest body accepted from an upstream (after gunzip).
#[cfg(feature = "proxy")]
pub const MAX_BODY: usize = 64 << 20;

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    pub fn parse(s: &str) -> Result<Url, String> {
        let (https, rest) = if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(format!("url {s:?} must start with http:// or https://"));
        };
        if https && !cfg!(feature = "tls") {
            return Err(format!(
                "url {s:?}: https needs a build with the tls feature"
            ));
        }
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(format!(
                "url {s:?}: credentials in the URL are not supported"
            ));
        }
        if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!("url {s:?} contains blanks or control characters"));
        }
        let default = if https { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, p) = v6
                .split_once(']')
                .ok_or_else(|| format!("url {s:?}: bad IPv6 host"))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            None => default,
            Some(p) => p
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("url {s:?}: bad port {p:?}"))?,
        };
        if host.is_empty() {
            return Err(format!("url {s:?} has no host"));
        }
        Ok(Url {
            https,
            host,
            port,
            target,
        })
    }
}

/// What came back: the body (gunzipped) and its `Content-Type`.
#[cfg(feature = "proxy")]
#[derive(Debug)]
pub struct Fetched {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The TLS client an https URL is reached with ([`crate::tls::client_config`]); a build
/// without `tls` has none, and its URLs are http only.
#[cfg(feature = "tls")]
pub use crate::tls::Client as Tls;
#[cfg(not(feature = "tls"))]
pub enum Tls {}

/// A connection with a deadline: every read and write gets the time that is left.
pub struct Conn {
    tcp: TcpStream,
    #[cfg(feature = "tls")]
    tls: Option<Box<rustls::ClientConnection>>,
    until: Instant,
}

impl Conn {
    fn left(&self) -> io::Result<Duration> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timeout"));
        }
        Ok(left)
    }
}

/// A socket timeout says "would block" (EAGAIN); call it what it is.
fn timed_out(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            io::Error::new(io::ErrorKind::TimedOut, "timeout")
        }
        _ => e,
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.tcp.set_read_timeout(Some(left))?;
        #[cfg(feature = "tls")]
        if let Some(c) = &mut self.tls {
            return rustls::Stream::new(&mut **c, &mut self.tcp)
                .read(buf)
                .map_err(timed_out);
        }
        self.tcp.read(buf).map_err(timed_out)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.tcp.set_write_timeout(Some(left))?;
        #[cfg(feature = "tls")]
        if let Some(c) = &mut self.tls {
            return rustls::Stream::new(&mut **c, &mut self.tcp)
                .write(buf)
                .map_err(timed_out);
        }
        self.tcp.write(buf).map_err(timed_out)
    }
    fn flush(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(c) = &mut self.tls {
            return rustls::Stream::new(&mut **c, &mut self.tcp)
                .flush()
                .map_err(timed_out);
        }
        self.tcp.flush()
    }
}

/// Resolves `host` and connects to the first address that answers before `until`.
fn dial(host: &str, port: u16, until: Instant) -> Result<TcpStream, String> {
    let left = until.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err("timeout before connecting".into());
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolve {host}: {e}"))?
        .collect();
    let mut last = format!("{host} resolves to nothing");
    for a in addrs {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timeout while connecting".into());
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(t) => {
                let _ = t.set_nodelay(true);
                return Ok(t);
            }
            Err(e) => last = format!("connect {a}: {e}"),
        }
    }
    Err(last)
}

/// Connects to `url`'s server (through `proxy` unless its `NO_PROXY` says otherwise) and,
/// for https, sets up TLS with `tls` (which an https URL needs); the handshake happens with
/// the first write.
pub fn connect(
    url: &Url,
    tls: Option<&Tls>,
    proxy: Option<&Proxy>,
    until: Instant,
) -> Result<Conn, String> {
    let via = proxy.filter(|p| !p.bypass(&url.host));
    let tcp = match via {
        Some(p) => dial(&p.host, p.port, until).map_err(|e| format!("proxy: {e}"))?,
        None => dial(&url.host, url.port, until)?,
    };
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    let mut conn = Conn {
        tcp,
        #[cfg(feature = "tls")]
        tls: None,
        until,
    };
    if let Some(p) = via {
        p.tunnel(&mut conn, url)?;
    }
    if !url.https {
        return Ok(conn);
    }
    #[cfg(feature = "tls")]
    {
        let tls = tls.ok_or("https URL without a TLS client configuration")?;
        conn.tls = Some(Box::new(tls.connection(&url.host)?));
        Ok(conn)
    }
    #[cfg(not(feature = "tls"))]
    {
        if let Some(t) = tls {
            match *t {}
        }
        Err("https needs a build with the tls feature".into())
    }
}

/// The `Host` header's value: the port only when it is not the scheme's default.
fn host_header(url: &Url) -> String {
    let host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    let default_port = if url.https { 443 } else { 80 };
    if url.port == default_port {
        host
    } else {
        format!("{host}:{}", url.port)
    }
}

/// GETs `url` with `headers` (the proxy's credentials and an exporter's own headers, besides
/// promlet's) and returns a 200 answer's body; anything else is an error.
#[cfg(feature = "proxy")]
pub fn get(
    url: &Url,
    tls: Option<&Tls>,
    headers: &[(&str, &str)],
    until: Instant,
) -> Result<Fetched, String> {
    let mut conn = connect(url, tls, None, until)?;
    let timeout_secs = until
        .saturating_duration_since(Instant::now())
        .as_secs_f64();
    let host = host_header(url);
    // gzip saves bandwidth between machines; over loopback it is only CPU on both sides.
    let loopback = conn.tcp.peer_addr().is_ok_and(|a| a.ip().is_loopback());
    let gzip = cfg!(feature = "gzip") && !loopback;
    // Prefer 0.0.4 (no conversion needed), take OpenMetrics.
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: promlet/{}\r\n\
         Accept: text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1\r\n\
         {}X-Prometheus-Scrape-Timeout-Seconds: {timeout_secs:.3}\r\n",
        url.target,
        env!("CARGO_PKG_VERSION"),
        if gzip { "Accept-Encoding: gzip\r\n" } else { "" },
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    conn.write_all(req.as_bytes())
        .and_then(|()| conn.flush())
        .map_err(|e| format!("send request: {e}"))?;
    read_fetched(io::BufReader::with_capacity(64 * 1024, conn), MAX_BODY).map_err(|e| e.to_string())
}

/// Standard base64 with padding (RFC 4648 §4), for `Authorization: Basic` and
/// `Proxy-Authorization: Basic`.
#[cfg(any(feature = "proxy", feature = "packet-sd", feature = "push"))]
pub fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | (u32::from(x) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(A[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Reads a whole answer that must be a 200: its body at most `limit` bytes, gunzipped (to at
/// most `limit` bytes) when it says `Content-Encoding: gzip`.
#[cfg(feature = "proxy")]
pub fn read_fetched<R: io::BufRead>(mut r: R, limit: usize) -> Result<Fetched, response::Error> {
    use response::Error;
    let head = response::read_head(&mut r)?;
    if head.status != 200 {
        return Err(Error::Status(head.status));
    }
    let content_type = head.field("content-type").unwrap_or_default().to_string();
    let gzip = match head.field("content-encoding").map(str::to_ascii_lowercase) {
        None => false,
        Some(e) if e.is_empty() || e == "identity" => false,
        Some(e) if e == "gzip" || e == "x-gzip" => true,
        Some(e) => return Err(Error::ContentEncoding(e)),
    };
    let body = response::read_all(r, &head, limit as u64)?;
    let body = if gzip {
        #[cfg(feature = "gzip")]
        {
            crate::gzip::decompress(&body, limit).map_err(Error::Gzip)?
        }
        #[cfg(not(feature = "gzip"))]
        return Err(Error::ContentEncoding("gzip (not in this build)".into()));
    } else {
        body
    };
    Ok(Fetched { content_type, body })
}

#[cfg(all(test, feature = "proxy"))]
mod tests {
    use super::*;

    fn dr(b: &[u8]) -> Result<Fetched, String> {
        read_fetched(b, 1 << 20).map_err(|e| e.to_string())
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn parses_urls() {
        let u = Url::parse("http://127.0.0.1:9100/metrics?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("127.0.0.1", 9100, "/metrics?x=1")
        );
        let u = Url::parse("http://[::1]:9/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
        assert_eq!(Url::parse("http://h?q").unwrap().target, "/?q");
        for bad in [
            "ftp://x/",
            "http://:1/",
            "http://h:0/",
            "http://u:p@h/",
            "http://h/a b",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decodes_length_chunked_and_errors() {
        let r =
            dr(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nab\ncX")
                .unwrap();
        assert_eq!(r.body, b"ab\nc");
        assert_eq!(r.content_type, "text/plain");
        let r = dr(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.body, b"abcde");
        assert!(dr(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")
            .unwrap_err()
            .contains("500"));
        assert!(dr(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            .unwrap_err()
            .contains("broke off"));
        assert!(dr(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n").is_err());
        assert!(dr(b"garbage").is_err());
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gunzips() {
        let z = crate::gzip::compress(b"a 1\n");
        let mut raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            z.len()
        )
        .into_bytes();
        raw.extend_from_slice(&z);
        assert_eq!(read_fetched(&raw[..], 100).unwrap().body, b"a 1\n");
        // The gunzipped size is capped too.
        let z = crate::gzip::compress(&[b'0'; 1000]);
        let mut raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            z.len()
        )
        .into_bytes();
        raw.extend_from_slice(&z);
        assert!(matches!(
            read_fetched(&raw[..], 100),
            Err(response::Error::Gzip(_))
        ));
    }
}
