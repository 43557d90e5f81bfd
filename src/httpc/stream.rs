//! [`open`]: a GET whose answer, of any status, is handed back once its head is in, with a
//! body to stream (Packet SD decodes pages device by device, never holding a whole page).

use std::io::{self, Read, Write};
use std::time::Instant;

use super::{connect, host_header, Conn, Proxy, Tls, Url};

/// An answer of any status: its headers, and its body to read.
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The longest response head [`open`] reads.
const MAX_HEAD: u64 = 64 * 1024;

/// GETs `url` with `headers` (besides `Host` and `Connection: close`) and returns the answer
/// once its head is in, whatever its status; the body is read from [`Response::body`], at
/// most `limit` bytes of it, before `until`. No `Accept-Encoding` is sent, so the body comes
/// as it is.
pub fn open(
    url: &Url,
    headers: &[(&str, &str)],
    tls: Tls<'_>,
    proxy: Option<&Proxy>,
    until: Instant,
    limit: u64,
) -> Result<Response, String> {
    let mut conn = connect(url, tls, proxy, until)?;
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n",
        url.target,
        host_header(url)
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    conn.write_all(req.as_bytes())
        .and_then(|()| conn.flush())
        .map_err(|e| format!("send request: {e}"))?;
    let mut r = io::BufReader::with_capacity(16 * 1024, conn);
    let mut budget = MAX_HEAD;
    let head_err = |e: io::Error| match e.kind() {
        io::ErrorKind::TimedOut => "timeout reading the response".to_string(),
        _ => format!("read response: {e}"),
    };
    // 1xx answers (100 Continue, 103 Early Hints) come before the real one.
    let (status, headers) = loop {
        let line = read_line(&mut r, &mut budget).map_err(head_err)?;
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|s| version.starts_with("HTTP/1.") && (100..600).contains(s))
            .ok_or_else(|| format!("malformed status line {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            let l = read_line(&mut r, &mut budget).map_err(head_err)?;
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        if !(100..200).contains(&status) {
            break (status, headers);
        }
    };
    let mut resp = Response {
        status,
        headers,
        body: Body {
            r,
            framing: Framing::Close,
            limit,
            seen: 0,
        },
    };
    resp.body.framing = if status == 204 || status == 304 {
        Framing::Done
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        Framing::Chunked(0)
    } else if let Some(v) = resp.header("content-length") {
        Framing::Length(v.parse().map_err(|_| format!("bad Content-Length {v:?}"))?)
    } else {
        Framing::Close
    };
    Ok(resp)
}

/// One CRLF- (or LF-) terminated line of a head, without its end; `budget` bounds them all.
fn read_line<R: io::BufRead>(r: &mut R, budget: &mut u64) -> io::Result<String> {
    let mut line = Vec::new();
    let n = io::BufRead::read_until(&mut Read::take(r, *budget), b'\n', &mut line)?;
    *budget -= n as u64;
    if !line.ends_with(b"\n") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            if *budget == 0 {
                "response header too long"
            } else {
                "response ended inside its header"
            },
        ));
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    String::from_utf8(line)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "response header is not UTF-8"))
}

enum Framing {
    /// Bytes left of a `Content-Length` body.
    Length(u64),
    /// Bytes left of the current chunk; 0: a chunk-size line comes next.
    Chunked(u64),
    /// Until the server closes.
    Close,
    Done,
}

/// A response body: de-chunked, cut at `Content-Length`, refused past its limit. Reading
/// past the deadline fails with a `TimedOut` error saying "timeout".
pub struct Body {
    r: io::BufReader<Conn>,
    framing: Framing,
    limit: u64,
    seen: u64,
}

fn broke_off() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "body broke off")
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.framing {
            Framing::Done => 0,
            Framing::Close => match self.r.read(buf) {
                // rustls reports a peer that closes without close_notify this way.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                r => r?,
            },
            Framing::Length(0) => 0,
            Framing::Length(left) => {
                let max = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = self.r.read(&mut buf[..max])?;
                if n == 0 && max > 0 {
                    return Err(broke_off());
                }
                *left -= n as u64;
                n
            }
            Framing::Chunked(left) => {
                if *left == 0 {
                    let mut budget = MAX_HEAD;
                    let line = read_line(&mut self.r, &mut budget)?;
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("bad chunk size {size:?}"),
                        )
                    })?;
                    if size == 0 {
                        // Trailer fields, then the empty line.
                        while !read_line(&mut self.r, &mut budget)?.is_empty() {}
                        self.framing = Framing::Done;
                        return Ok(0);
                    }
                    *left = size;
                }
                let max = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = self.r.read(&mut buf[..max])?;
                if n == 0 && max > 0 {
                    return Err(broke_off());
                }
                *left -= n as u64;
                let mut budget = MAX_HEAD;
                if *left == 0 && !read_line(&mut self.r, &mut budget)?.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "chunk not followed by CRLF",
                    ));
                }
                n
            }
        };
        self.seen += n as u64;
        if self.seen > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("answer larger than {} bytes", self.limit),
            ));
        }
        Ok(n)
    }
}
