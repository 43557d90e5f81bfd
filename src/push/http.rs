//! The remote-write request over promlet's one HTTP client: `POST` with the protocol's
//! headers (`Content-Encoding: snappy`, `Content-Type: application/x-protobuf`,
//! `X-Prometheus-Remote-Write-Version: 0.1.0`), the user's headers and credentials, one
//! deadline (`remote_timeout`) for connect, TLS, request and answer, on a connection kept
//! from one request to the next ([`httpc::Kept`]). The answer's body is only
//! read for the log (its first line, at most 1 KiB), as the specification says a sender must
//! not interpret it.

use std::io::Read;
use std::time::{Instant, SystemTime};

use crate::httpc::{self, Url};

use super::config::Remote;
use super::policy::Attempt;
use super::run::{Sent, Transport};

/// Sends through `httpc`, through the proxy the environment named at start, if any (read once,
/// as Packet SD reads it: the environment does not change, and a bad value is logged once).
pub struct Http {
    proxy: Option<httpc::Proxy>,
}

impl Http {
    pub fn from_env() -> Http {
        Http {
            proxy: httpc::Proxy::from_env(),
        }
    }
}

fn transport(message: String) -> Sent {
    Sent {
        attempt: Attempt::Transport,
        retry_after: None,
        message,
    }
}

impl Transport for Http {
    fn send(&self, r: &Remote, body: &[u8], until: Instant, kept: &mut httpc::Kept) -> Sent {
        let url = match Url::parse(&r.url) {
            Ok(u) => u,
            Err(e) => return transport(e),
        };
        let auth = match r.auth.as_ref().map(|a| a.value()).transpose() {
            Ok(a) => a,
            Err(e) => return transport(format!("credentials: {e}")),
        };
        let user_agent = format!("promlet/{}", env!("CARGO_PKG_VERSION"));
        let mut headers: Vec<(&str, &str)> = vec![
            ("User-Agent", &user_agent),
            ("Content-Encoding", "snappy"),
            ("Content-Type", "application/x-protobuf"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ];
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        headers.extend(r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let req = httpc::Request {
            method: "POST",
            headers: &headers,
            body: Some(body),
        };
        let mut resp = match kept.open(
            &url,
            &req,
            {
                #[cfg(feature = "tls")]
                {
                    r.tls.as_ref()
                }
                #[cfg(not(feature = "tls"))]
                {
                    None
                }
            },
            self.proxy.as_ref(),
            until,
            1024,
        ) {
            Ok(resp) => resp,
            Err(e) => return transport(e),
        };
        let status = resp.status;
        let retry_after = resp
            .header("retry-after")
            .and_then(|v| httpc::parse_retry_after(v, SystemTime::now()));
        let mut text = Vec::new();
        let _ = (&mut resp.body).take(1024).read_to_end(&mut text);
        kept.keep(resp);
        let first = String::from_utf8_lossy(&text);
        let line = first.lines().next().unwrap_or("").trim();
        Sent {
            attempt: Attempt::Status(status),
            retry_after,
            message: if line.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {line}")
            },
        }
    }
}
