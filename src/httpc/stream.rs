//! [`open`]: a request (Packet SD's GETs, push mode's POSTs) whose answer, of any status, is
//! handed back once its head is in, with a body to stream (Packet SD decodes pages device by
//! device, never holding a whole page).

use std::io::{self, BufRead, Write};
use std::time::Instant;

use super::response::{self, Head};
use super::{connect, host_header, Conn, Proxy, Tls, Url};

/// A response body, decoded by [`response::Body`]: reading past the deadline fails with a
/// `TimedOut` error saying "timeout".
pub type Body = response::Body<io::BufReader<Conn>>;

/// An answer of any status: its head, and its body to read.
pub struct Response {
    pub status: u16,
    head: Head,
    pub body: Body,
}

impl Response {
    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.field(name)
    }
}

/// What to send: the method, headers besides `Host`, `Content-Length` and
/// `Connection: close`, and a body.
pub struct Request<'a> {
    pub method: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    /// A GET with these headers.
    #[cfg(any(feature = "packet-sd", test))]
    pub fn get(headers: &'a [(&'a str, &'a str)]) -> Request<'a> {
        Request {
            method: "GET",
            headers,
            body: None,
        }
    }
}

/// Sends `req` to `url` and returns the answer once its head is in, whatever its status; the
/// body is read from [`Response::body`], at most `limit` bytes of it, before `until`. No
/// `Accept-Encoding` is sent, so the body comes as it is. The connection is closed after the
/// answer; [`Kept::open`] keeps it for the next request.
#[cfg(any(feature = "packet-sd", test))]
pub fn open(
    url: &Url,
    req: &Request<'_>,
    tls: Option<&Tls>,
    proxy: Option<&Proxy>,
    until: Instant,
    limit: u64,
) -> Result<Response, String> {
    let (r, head) = fresh(url, req, tls, proxy, until, true)?;
    Ok(Response::new(r, head, limit))
}

impl Response {
    fn new(r: io::BufReader<Conn>, head: Head, limit: u64) -> Response {
        Response {
            status: head.status,
            body: Body::new(r, &head, limit),
            head,
        }
    }
}

/// `req` on a new connection to `url`'s server: the connection and the answer's head.
fn fresh(
    url: &Url,
    req: &Request<'_>,
    tls: Option<&Tls>,
    proxy: Option<&Proxy>,
    until: Instant,
    close: bool,
) -> Result<(io::BufReader<Conn>, Head), String> {
    let r = io::BufReader::with_capacity(16 * 1024, connect(url, tls, proxy, until)?);
    exchange(r, url, req, close).map_err(Failure::message)
}

/// Why an exchange failed.
enum Failure {
    /// Not a byte came back, or the request could not be written: on a kept connection, the
    /// server closed it while it was idle.
    Unanswered(String),
    Failed(String),
}

impl Failure {
    fn message(self) -> String {
        match self {
            Failure::Unanswered(m) | Failure::Failed(m) => m,
        }
    }
}

/// Writes `req` on `r`'s connection and reads the answer's head.
fn exchange(
    mut r: io::BufReader<Conn>,
    url: &Url,
    req: &Request<'_>,
    close: bool,
) -> Result<(io::BufReader<Conn>, Head), Failure> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\n",
        req.method,
        url.target,
        host_header(url)
    );
    for (k, v) in req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = req.body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str(if close {
        "Connection: close\r\n\r\n"
    } else {
        "\r\n"
    });
    let conn = r.get_mut();
    conn.write_all(head.as_bytes())
        .and_then(|()| conn.write_all(req.body.unwrap_or_default()))
        .and_then(|()| conn.flush())
        .map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => Failure::Failed(format!("send request: {e}")),
            _ => Failure::Unanswered(format!("send request: {e}")),
        })?;
    match r.fill_buf() {
        Ok([]) => {
            return Err(Failure::Unanswered(
                "the server closed the connection without answering".into(),
            ))
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            ) =>
        {
            return Err(Failure::Unanswered(format!("read answer: {e}")))
        }
        _ => {}
    }
    let head = response::read_head(&mut r).map_err(|e| Failure::Failed(e.to_string()))?;
    Ok((r, head))
}

/// A connection kept open for the next request to the same server (HTTP/1.1 keep-alive), as
/// push mode's sender keeps one per remote: a connect, and a TLS handshake, for every request
/// would cost more than the request. A kept connection that the server closed while it was
/// idle is noticed when the request gets no answer at all; the request then goes once more,
/// on a new connection.
#[cfg(feature = "push")]
#[derive(Default)]
pub struct Kept {
    /// The server (scheme, host, port) and the connection.
    conn: Option<(String, io::BufReader<Conn>)>,
    /// The server of the last [`Kept::open`], for [`Kept::keep`].
    last: String,
}

#[cfg(feature = "push")]
impl Kept {
    /// As [`open`], on the kept connection when it goes to the same server. Hand the answer
    /// to [`Kept::keep`] once its body is read.
    pub fn open(
        &mut self,
        url: &Url,
        req: &Request<'_>,
        tls: Option<&Tls>,
        proxy: Option<&Proxy>,
        until: Instant,
        limit: u64,
    ) -> Result<Response, String> {
        let server = format!(
            "{}://{}",
            if url.https { "https" } else { "http" },
            host_header(url)
        );
        let answered = match self.conn.take() {
            Some((s, mut r)) if s == server => {
                r.get_mut().until = until;
                match exchange(r, url, req, false) {
                    Ok(got) => Some(got),
                    Err(Failure::Unanswered(_)) => None,
                    Err(Failure::Failed(e)) => return Err(e),
                }
            }
            _ => None,
        };
        let (r, head) = match answered {
            Some(got) => got,
            None => fresh(url, req, tls, proxy, until, false)?,
        };
        self.last = server;
        Ok(Response::new(r, head, limit))
    }

    /// Keeps `resp`'s connection for the next request, when its body was read to the end and
    /// the server did not say it closes; otherwise the connection closes here.
    pub fn keep(&mut self, resp: Response) {
        if !resp.head.reusable {
            return;
        }
        if let Some(r) = resp.body.finished().filter(|r| r.buffer().is_empty()) {
            self.conn = Some((std::mem::take(&mut self.last), r));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, Read};
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

    /// A server answering `answer` to every request (head and body read), closing each
    /// connection after `per_conn` answers without saying so; counts the connections.
    #[cfg(feature = "push")]
    fn serve_many(
        answer: &'static [u8],
        per_conn: usize,
    ) -> (Url, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/api/v1/write", l.local_addr().unwrap())).unwrap();
        let conns = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = conns.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { return };
                counted.fetch_add(1, Ordering::SeqCst);
                let mut r = io::BufReader::new(s);
                for _ in 0..per_conn {
                    let mut head = String::new();
                    while !head.ends_with("\r\n\r\n") && r.read_line(&mut head).unwrap_or(0) > 0 {}
                    if head.is_empty() {
                        break;
                    }
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .map_or(0, |n| n.trim().parse().unwrap());
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    r.get_mut().write_all(answer).unwrap();
                }
            }
        });
        (url, conns)
    }

    /// Three POSTs through one `Kept`; the number of connections they took.
    #[cfg(feature = "push")]
    fn post_three(answer: &'static [u8], per_conn: usize) -> usize {
        let (url, conns) = serve_many(answer, per_conn);
        let mut kept = Kept::default();
        for i in 0..3 {
            let req = Request {
                method: "POST",
                headers: &[],
                body: Some(b"abc"),
            };
            let until = Instant::now() + Duration::from_secs(10);
            let mut r = kept
                .open(&url, &req, None, None, until, 100)
                .unwrap_or_else(|e| {
                    panic!("request {i}: {e}");
                });
            assert_eq!(r.status, 204);
            let mut b = Vec::new();
            r.body.read_to_end(&mut b).unwrap();
            kept.keep(r);
        }
        conns.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[cfg(feature = "push")]
    #[test]
    fn kept_connections_carry_requests_and_a_closed_one_is_replaced() {
        assert_eq!(post_three(b"HTTP/1.1 204 No Content\r\n\r\n", 100), 1);
        // The server closes every connection after its answer: each next request finds the
        // kept one closed and goes again on a new one, without an error.
        assert_eq!(post_three(b"HTTP/1.1 204 No Content\r\n\r\n", 1), 3);
        // Said so: not kept.
        assert_eq!(
            post_three(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", 100),
            3
        );
        assert_eq!(post_three(b"HTTP/1.0 204 No Content\r\n\r\n", 100), 3);
    }

    fn get(answer: &'static [u8], limit: u64) -> (Result<Response, String>, String) {
        let (url, t) = serve(answer, Duration::ZERO);
        let until = Instant::now() + Duration::from_secs(10);
        let r = open(
            &url,
            &Request::get(&[("X-Auth-Token", "t0k")]),
            None,
            None,
            until,
            limit,
        );
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
        assert!(r.err().unwrap().contains("malformed response header"));
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
        let r = open(&url, &Request::get(&[]), None, None, until, 100).unwrap();
        let e = body(r).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(e.to_string(), "timeout");
        t.join().unwrap();
    }
}
