//! promlet's one HTTP/1.1 client (RFC 9112), for the proxy's upstreams and the Packet SD API:
//! GET only, one request per connection (`Connection: close`), `Content-Length`, chunked or
//! close-delimited bodies, and one deadline for the whole exchange (connect, TLS, request,
//! head and body). HTTPS goes through rustls when the `tls` feature is built in. Redirects are
//! never followed: a 3xx is an answer like any other, so a token sent to one host never
//! reaches another.
//!
//! Two ways to use it: [`get`] (the proxy) reads a 200 answer whole, gunzipped, and calls
//! anything else an error; [`open`] (Packet SD) returns any status with its headers and a
//! body to stream, capped in size, optionally through an HTTP `CONNECT` proxy from the
//! environment ([`Proxy::from_env`]).
//!
//! Why not ureq: with default features off it still brings its own HTTP stack, `http` types and
//! URL handling (about 125 KB of the static build, and the router build's whole budget is
//! 1 MiB), while promlet needs a GET with a deadline.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

#[cfg(feature = "packet-sd")]
mod stream;
mod tunnel;

#[cfg(feature = "packet-sd")]
pub use stream::{open, Body, Response};
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
    let raw = exchange(&mut conn, req.as_bytes())?;
    decode_response(raw)
}

/// Standard base64 with padding (RFC 4648 §4), for `Authorization: Basic`.
#[cfg(feature = "proxy")]
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

/// Sends the request and reads until the server closes (or the body is complete).
#[cfg(feature = "proxy")]
fn exchange<S: Read + Write>(s: &mut S, req: &[u8]) -> Result<Vec<u8>, String> {
    s.write_all(req).map_err(|e| format!("send request: {e}"))?;
    s.flush().map_err(|e| format!("send request: {e}"))?;
    let mut raw: Vec<u8> = Vec::with_capacity(64 * 1024);
    // Read through one zeroed scratch buffer and copy what arrived: zeroing spare capacity
    // before every read would cost more than the copy.
    let mut chunk = vec![0u8; 64 * 1024];
    // Once the head is in: where the body starts and, if given, how long it is. Found once,
    // so a large body is not rescanned on every read.
    let mut head: Option<(usize, Option<usize>)> = None;
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                let len = raw.len();
                raw.extend_from_slice(&chunk[..n]);
                if raw.len() > MAX_BODY + 64 * 1024 {
                    return Err(format!("response larger than {MAX_BODY} bytes"));
                }
                if head.is_none() {
                    let from = len.saturating_sub(3);
                    if let Some(end) = find(&raw[from..], b"\r\n\r\n") {
                        let end = from + end + 4;
                        head = Some((end, content_length(&raw[..end])));
                    }
                }
                if let Some((start, Some(n))) = head {
                    if raw.len() >= start + n {
                        break;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err("timeout reading the response".into())
            }
            // rustls reports a peer that closes without close_notify this way; the length
            // checks in decode_response still catch a truncated body.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("read response: {e}")),
        }
    }
    Ok(raw)
}

/// `Content-Length` of a response head, if present and valid.
#[cfg(feature = "proxy")]
fn content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    head.split("\r\n").skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    })
}

#[cfg(feature = "proxy")]
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses a complete raw response: status, headers, body (de-chunked, gunzipped).
#[cfg(feature = "proxy")]
pub fn decode_response(mut raw: Vec<u8>) -> Result<Fetched, String> {
    let end = find(&raw, b"\r\n\r\n").ok_or("response ended inside its header")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "response header is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| format!("malformed status line {status_line:?}"))?;
    if status != 200 {
        return Err(format!("HTTP status {status}"));
    }
    let mut content_type = String::new();
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut gzip = false;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = v.to_string(),
            "content-length" => {
                length = Some(v.parse().map_err(|_| format!("bad Content-Length {v:?}"))?)
            }
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            "content-encoding" => match v.to_ascii_lowercase().as_str() {
                "gzip" | "x-gzip" => gzip = true,
                "identity" | "" => {}
                other => return Err(format!("unsupported Content-Encoding {other:?}")),
            },
            _ => {}
        }
    }
    let body = if chunked {
        dechunk(&raw[end + 4..])?
    } else {
        // Reuse the buffer: drop the head in place instead of copying the body out.
        raw.drain(..end + 4);
        if let Some(n) = length {
            if raw.len() < n {
                return Err(format!("body broke off after {} of {n} bytes", raw.len()));
            }
            raw.truncate(n);
        }
        raw
    };
    let body = if gzip {
        #[cfg(feature = "gzip")]
        {
            crate::gzip::decompress(&body, MAX_BODY)?
        }
        #[cfg(not(feature = "gzip"))]
        return Err("gzip body but this build has no gzip feature".into());
    } else {
        body
    };
    Ok(Fetched { content_type, body })
}

/// Decodes a chunked body; a missing last chunk means the body broke off.
#[cfg(feature = "proxy")]
fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(b.len());
    loop {
        let eol = find(b, b"\r\n").ok_or("chunked body broke off")?;
        let size_text = std::str::from_utf8(&b[..eol]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err("chunked body broke off".into());
        }
        out.extend_from_slice(&b[..size]);
        if out.len() > MAX_BODY {
            return Err(format!("response larger than {MAX_BODY} bytes"));
        }
        b = &b[size + 2..];
    }
}

#[cfg(all(test, feature = "proxy"))]
mod tests {
    use super::*;

    fn dr(b: &[u8]) -> Result<Fetched, String> {
        decode_response(b.to_vec())
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
        assert_eq!(decode_response(raw).unwrap().body, b"a 1\n");
    }
}
