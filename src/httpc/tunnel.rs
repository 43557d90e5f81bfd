//! Reaching a server through an HTTP `CONNECT` proxy (RFC 9110 §9.3.6) named by the
//! environment (`HTTPS_PROXY`, `NO_PROXY`, …), as curl and ureq read it. Only Packet SD uses
//! one; the proxy part's upstreams are always reached directly.

use std::io::{self, Write};

use super::{Conn, Url};

/// An HTTP `CONNECT` proxy (RFC 9110 §9.3.6), from the environment like curl and ureq read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Proxy {
    pub(super) host: String,
    pub(super) port: u16,
    /// `user:password`, base64 for `Proxy-Authorization: Basic`.
    auth: Option<String>,
    /// `NO_PROXY` entries, lower case.
    no_proxy: Vec<String>,
}

impl Proxy {
    /// The first of `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY` (or their lower-case spelling)
    /// that is an `http://` proxy URL (the scheme may be left out), with `NO_PROXY`. Others
    /// (`socks5://`, `https://`) are ignored with a warning.
    #[cfg(any(feature = "packet-sd", feature = "push"))]
    pub fn from_env() -> Option<Proxy> {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        let no_proxy = var(&["NO_PROXY", "no_proxy"]).unwrap_or_default();
        [
            "ALL_PROXY",
            "all_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
        ]
        .iter()
        .filter_map(|n| Some((n, std::env::var(n).ok().filter(|v| !v.trim().is_empty())?)))
        .find_map(|(n, v)| {
            let p = Proxy::parse(&v, &no_proxy);
            if p.is_none() {
                crate::warn!("{n}={v:?} is not an http:// proxy URL, ignored");
            }
            p
        })
    }

    /// `[http://][user[:password]@]host[:port][/]`; `None` for anything else.
    #[cfg(any(feature = "packet-sd", feature = "push"))]
    fn parse(s: &str, no_proxy: &str) -> Option<Proxy> {
        let s = s.trim();
        let rest = match s.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some(_) => return None,
            None => s,
        };
        let authority = rest.split('/').next().unwrap_or("");
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let url = Url::parse(&format!("http://{hostport}/")).ok()?;
        let auth = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let mut plain = percent_decode(user);
            plain.push(b':');
            plain.extend(percent_decode(pass));
            super::base64(&plain)
        });
        Some(Proxy {
            host: url.host,
            port: url.port,
            auth,
            no_proxy: no_proxy
                .split(',')
                .map(|e| e.trim().to_ascii_lowercase())
                .filter(|e| !e.is_empty())
                .collect(),
        })
    }

    /// `NO_PROXY`: `*` (everything), `*.example.com` or `.example.com` (suffix), `10.*` or
    /// `10.` (prefix), else the exact host.
    pub(super) fn bypass(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.no_proxy.iter().any(|e| {
            if e == "*" {
                true
            } else if let Some(s) = e.strip_prefix('*') {
                host.ends_with(s)
            } else if e.starts_with('.') {
                host.ends_with(e.as_str())
            } else if let Some(p) = e.strip_suffix('*') {
                host.starts_with(p)
            } else if e.ends_with('.') {
                host.starts_with(e.as_str())
            } else {
                host == *e
            }
        })
    }

    /// Asks the proxy for a tunnel to `url`'s server and reads its answer.
    pub(super) fn tunnel(&self, conn: &mut Conn, url: &Url) -> Result<(), String> {
        let name = format!("proxy {}:{}", self.host, self.port);
        let target = if url.host.contains(':') {
            format!("[{}]:{}", url.host, url.port)
        } else {
            format!("{}:{}", url.host, url.port)
        };
        let mut req = format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: promlet/{}\r\n",
            env!("CARGO_PKG_VERSION")
        );
        if let Some(a) = &self.auth {
            req.push_str(&format!("Proxy-Authorization: Basic {a}\r\n"));
        }
        req.push_str("\r\n");
        conn.write_all(req.as_bytes())
            .and_then(|()| conn.flush())
            .map_err(|e| format!("{name}: {e}"))?;
        // A one-byte buffer: the head is read byte by byte, so nothing that belongs to the
        // tunnel is taken (the answer to CONNECT has no body to skip).
        let mut r = io::BufReader::with_capacity(1, &mut *conn);
        let head = super::response::read_head(&mut r).map_err(|e| format!("{name}: {e}"))?;
        if !(200..300).contains(&head.status) {
            return Err(format!("{name} answered {}", head.status));
        }
        Ok(())
    }
}

#[cfg(any(feature = "packet-sd", feature = "push"))]
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(all(test, feature = "packet-sd"))]
mod tests {
    use super::*;
    use crate::httpc::open;
    use std::io::{BufRead, Read};
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    #[test]
    fn base64_of_rfc_4648_vectors() {
        let v: Vec<String> = ["", "f", "fo", "foo", "foob", "fooba", "foobar"]
            .iter()
            .map(|s| super::super::base64(s.as_bytes()))
            .collect();
        assert_eq!(
            v,
            ["", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"]
        );
    }

    #[test]
    fn parses_proxy_urls_and_no_proxy() {
        let p = Proxy::parse("http://us%40r:p%3Ass@proxy.lan:3128/", "").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.lan", 3128));
        assert_eq!(
            p.auth.as_deref(),
            Some(super::super::base64(b"us@r:p:ss").as_str())
        );
        let p = Proxy::parse("proxy.lan", " .corp.example, 10.*,api.equinix.com ").unwrap();
        assert_eq!((p.port, p.auth.as_deref()), (80, None));
        assert!(p.bypass("db.Corp.example"));
        assert!(p.bypass("10.0.0.1"));
        assert!(p.bypass("api.equinix.com"));
        assert!(!p.bypass("metal.equinix.com"));
        assert!(Proxy::parse("http://[::1]:8080", "*").unwrap().bypass("x"));
        for bad in ["socks5://proxy:1080", "https://proxy", "http://", ""] {
            assert_eq!(Proxy::parse(bad, ""), None, "{bad}");
        }
    }

    /// A fake proxy: checks the CONNECT head, answers `status`, then (on 200) serves one
    /// HTTP answer through the tunnel.
    fn fake_proxy(status: &'static str) -> (u16, std::thread::JoinHandle<(String, String)>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = io::BufReader::new(s);
            let read_head = |r: &mut io::BufReader<std::net::TcpStream>| {
                let mut head = String::new();
                while !head.ends_with("\r\n\r\n") && r.read_line(&mut head).unwrap_or(0) > 0 {}
                head
            };
            let connect = read_head(&mut r);
            r.get_mut()
                .write_all(format!("HTTP/1.1 {status}\r\n\r\n").as_bytes())
                .unwrap();
            let mut inner = String::new();
            if status.starts_with("200") {
                inner = read_head(&mut r);
                r.get_mut()
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .unwrap();
            }
            (connect, inner)
        });
        (port, t)
    }

    #[test]
    fn tunnels_through_a_connect_proxy_with_credentials() {
        let (port, t) = fake_proxy("200 Connection established");
        let p = Proxy::parse(&format!("http://user:pw@127.0.0.1:{port}"), "").unwrap();
        let url = Url::parse("http://api.example.invalid:8080/v1/projects").unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        let mut r = open(
            &url,
            &crate::httpc::Request::get(&[]),
            None,
            Some(&p),
            until,
            10,
        )
        .unwrap();
        let mut body = String::new();
        r.body.read_to_string(&mut body).unwrap();
        assert_eq!((r.status, body.as_str()), (200, "ok"));
        let (connect, inner) = t.join().unwrap();
        assert!(
            connect.starts_with("CONNECT api.example.invalid:8080 HTTP/1.1\r\n"),
            "{connect}"
        );
        assert!(
            connect.contains(&format!(
                "Proxy-Authorization: Basic {}\r\n",
                super::super::base64(b"user:pw")
            )),
            "{connect}"
        );
        assert!(
            inner.starts_with("GET /v1/projects HTTP/1.1\r\nHost: api.example.invalid:8080\r\n"),
            "{inner}"
        );
    }

    #[test]
    fn a_refusing_proxy_is_an_error_and_no_proxy_goes_direct() {
        let (port, t) = fake_proxy("407 Proxy Authentication Required");
        let p = Proxy::parse(&format!("127.0.0.1:{port}"), "").unwrap();
        let url = Url::parse("http://api.example.invalid/").unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        let e = open(
            &url,
            &crate::httpc::Request::get(&[]),
            None,
            Some(&p),
            until,
            10,
        )
        .err()
        .unwrap();
        assert!(e.contains("407"), "{e}");
        t.join().unwrap();
        // NO_PROXY names the host: the proxy (nothing listens there now) is not used.
        let direct = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", direct.local_addr().unwrap())).unwrap();
        let p = Proxy::parse(&format!("127.0.0.1:{port}"), "127.0.0.1").unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = direct.accept().unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b);
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        });
        let r = open(
            &url,
            &crate::httpc::Request::get(&[]),
            None,
            Some(&p),
            until,
            10,
        )
        .unwrap();
        assert_eq!(r.status, 204);
        t.join().unwrap();
    }
}
