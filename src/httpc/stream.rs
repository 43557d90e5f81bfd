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
    tls: Option<&Tls>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;
    use std::time::Duration;

    /// Serves `answer` to one connection (after reading the request head), optionally
    /// holding the connection open for `hold` afterwards; returns the URL and the request.
    fn serve(answer: &'static [u8], hold: Duration) -> (Url, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/v1/x?a=1", l.local_addr().unwrap())).unwrap();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = io::BufReader::new(s);
            let mut head = String::new();
            while !head.ends_with("\r\n\r\n") && r.read_line(&mut head).unwrap_or(0) > 0 {}
            let mut s = r.into_inner();
            s.write_all(answer).unwrap();
            std::thread::sleep(hold);
            head
        });
        (url, t)
    }

    fn get(answer: &'static [u8], limit: u64) -> (Result<Response, String>, String) {
        let (url, t) = serve(answer, Duration::ZERO);
        let until = Instant::now() + Duration::from_secs(10);
        let r = open(&url, &[("X-Auth-Token", "t0k")], None, None, until, limit);
        (r, t.join().unwrap())
    }

    fn body(r: Response) -> io::Result<Vec<u8>> {
        let mut b = Vec::new();
        let mut body = r.body;
        body.read_to_end(&mut b).map(|_| b)
    }

    #[test]
    fn sends_headers_and_reads_a_length_body() {
        let (r, head) = get(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-RateLimit-Remaining: 0\r\n\r\nhelloEXTRA",
            100,
        );
        assert!(head.starts_with("GET /v1/x?a=1 HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("\r\nX-Auth-Token: t0k\r\n"), "{head}");
        assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
        let r = r.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
        assert_eq!(body(r).unwrap(), b"hello");
    }

    #[test]
    fn chunked_with_trailers_and_close_delimited() {
        let (r, _) = get(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
            100,
        );
        assert_eq!(body(r.unwrap()).unwrap(), b"abcde");
        let (r, _) = get(b"HTTP/1.0 200 OK\r\n\r\nuntil close", 100);
        assert_eq!(body(r.unwrap()).unwrap(), b"until close");
    }

    #[test]
    fn other_statuses_are_answers_and_redirects_are_not_followed() {
        let (r, _) = get(
            b"HTTP/1.1 429 Too Many\r\nRetry-After: 2\r\nContent-Length: 4\r\n\r\nslow",
            100,
        );
        let r = r.unwrap();
        assert_eq!((r.status, r.header("Retry-After")), (429, Some("2")));
        assert_eq!(body(r).unwrap(), b"slow");
        let (r, _) = get(
            b"HTTP/1.1 301 Moved\r\nLocation: http://elsewhere.invalid/\r\nContent-Length: 0\r\n\r\n",
            100,
        );
        let r = r.unwrap();
        assert_eq!(r.status, 301);
        assert_eq!(body(r).unwrap(), b"");
    }

    #[test]
    fn broken_bodies_oversized_bodies_and_bad_heads_are_errors() {
        let (r, _) = get(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 100);
        assert!(body(r.unwrap())
            .unwrap_err()
            .to_string()
            .contains("broke off"));
        let (r, _) = get(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
            100,
        );
        assert!(body(r.unwrap()).is_err());
        let (r, _) = get(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
            4,
        );
        let e = body(r.unwrap()).unwrap_err().to_string();
        assert!(e.contains("larger than 4 bytes"), "{e}");
        let (r, _) = get(b"garbage\r\n\r\n", 100);
        assert!(r.err().unwrap().contains("malformed status line"));
        let (r, _) = get(b"HTTP/1.1 200 OK\r\nContent-Le", 100);
        assert!(r.err().unwrap().contains("ended inside its header"));
    }

    #[test]
    fn a_stalled_body_times_out_at_the_deadline() {
        let (url, t) = serve(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            Duration::from_secs(3),
        );
        let until = Instant::now() + Duration::from_millis(500);
        let r = open(&url, &[], None, None, until, 100).unwrap();
        let e = body(r).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(e.to_string(), "timeout");
        t.join().unwrap();
    }
}
