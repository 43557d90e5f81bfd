//! A client for the Packet / Equinix Metal API (<https://api.equinix.com/metal/v1>, the
//! `X-Auth-Token` header, JSON lists paged with `page`/`per_page` and `meta.next`), on
//! promlet's own HTTP client ([`crate::httpc`]) with rustls; `HTTPS_PROXY`/`NO_PROXY` are
//! honoured (HTTP `CONNECT` proxies).
//!
//! Every call has a deadline (`--packet.timeout`, covering connect, TLS, headers and body).
//! 429 and 5xx answers (except 501) and transport errors are retried with exponential backoff
//! (1 s, 2 s, 4 s, … at most 30 s), or after the answer's `Retry-After` when it has one; every
//! wait is capped at [`MAX_WAIT`] and the number of retries at `--packet.retries`, so a call
//! always ends. The original did not retry 429 at all and ignored `Retry-After`. An answer
//! saying the rate limit is used up (`X-RateLimit-Remaining: 0`) holds the next request until
//! `X-RateLimit-Reset`.
//!
//! Pages are followed by number (`page=N+1` while `meta.next` is set) on our own URL, like
//! packngo's later versions: `meta.next.href` carries the API's path prefix and not always
//! our query, so resolving it is more fragile than counting.

use std::fmt;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::httpc::{self, Proxy, Url};

use super::model::{self, Meta};

/// The longest wait between two tries of one call, whatever `Retry-After` asks.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// The API's own bound on `page` (Metal OpenAPI spec); stops a server that always says "next".
const MAX_PAGES: u64 = 100_000;
/// A page larger than this is refused (the spec's largest page is 1000 devices).
const MAX_PAGE_BYTES: u64 = 256 << 20;

/// Why a call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Transport: DNS, connect, TLS, timeout.
    Transport {
        url: String,
        err: String,
    },
    /// An answer that is not 2xx (after retries, if it was retryable).
    Status {
        url: String,
        status: u16,
        message: String,
    },
    /// A 2xx answer cut off while its body was read (deadline, reset, size limit).
    Body {
        url: String,
        err: serde_json::Error,
    },
    /// A 2xx answer whose body is not the expected JSON.
    Decode {
        url: String,
        err: serde_json::Error,
    },
    TooManyPages {
        url: String,
    },
    /// Setting up the client (CA files).
    Setup(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Transport { url, err } => write!(f, "GET {url}: {err}"),
            Error::Status {
                url,
                status,
                message,
            } if message.is_empty() => write!(f, "GET {url}: status {status}"),
            Error::Status {
                url,
                status,
                message,
            } => write!(f, "GET {url}: status {status}: {message}"),
            Error::Body { url, err } => write!(f, "GET {url}: reading the answer: {err}"),
            Error::Decode { url, err } => write!(f, "GET {url}: bad answer: {err}"),
            Error::TooManyPages { url } => {
                write!(f, "GET {url}: more than {MAX_PAGES} pages, giving up")
            }
            Error::Setup(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// How the client connects.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Base URL without trailing slash, e.g. `https://api.equinix.com/metal/v1`.
    pub api_url: String,
    pub token: String,
    /// Deadline of one request, body included.
    pub timeout: Duration,
    pub retries: u32,
    pub per_page: u32,
    /// Extra CA certificates (PEM) to trust besides the system bundle.
    pub ca_files: Vec<PathBuf>,
}

pub struct Client {
    settings: Settings,
    /// For https: the system roots plus `--packet.ca-file`.
    tls: Option<crate::tls::Client>,
    proxy: Option<Proxy>,
    /// When the API said the rate limit is used up (`X-RateLimit-Remaining: 0`), the time its
    /// window resets: the next request waits for it instead of earning a 429.
    not_before: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Client {
    pub fn new(settings: Settings) -> Result<Client, Error> {
        Url::parse(&settings.api_url)
            .map_err(|e| Error::Setup(format!("--packet.api-url: {e}")))?;
        let mut tls = None;
        if settings.api_url.starts_with("https://") || !settings.ca_files.is_empty() {
            let mut roots = match crate::tls::roots::system() {
                Ok(r) => (*r).clone(),
                // The CA files may be all the API needs.
                Err(_) if !settings.ca_files.is_empty() => rustls::RootCertStore::empty(),
                Err(e) => {
                    return Err(Error::Setup(format!(
                        "{}: {e}, or pass --packet.ca-file",
                        settings.api_url
                    )))
                }
            };
            for p in &settings.ca_files {
                for c in crate::tls::load_certs(p).map_err(Error::Setup)? {
                    roots
                        .add(c)
                        .map_err(|e| Error::Setup(format!("{}: {e}", p.display())))?;
                }
            }
            tls = Some(crate::tls::client_with_roots(roots).map_err(Error::Setup)?);
        }
        Ok(Client {
            settings,
            tls,
            proxy: Proxy::from_env(),
            not_before: std::sync::Mutex::new(None),
        })
    }

    /// One GET, any status. A redirect is not followed: it would carry X-Auth-Token to
    /// wherever it points, and the API never redirects, so one is an error, not a hop.
    fn call(&self, url: &str) -> Result<httpc::Response, String> {
        let u = Url::parse(url)?;
        httpc::open(
            &u,
            &httpc::Request::get(&[
                (
                    "User-Agent",
                    concat!("promlet/", env!("CARGO_PKG_VERSION"), " packet-sd"),
                ),
                ("X-Auth-Token", &self.settings.token),
                ("Accept", "application/json"),
            ]),
            self.tls.as_ref(),
            self.proxy.as_ref(),
            Instant::now() + self.settings.timeout,
            MAX_PAGE_BYTES,
        )
    }

    /// `GET /projects` (every page) with each project's organization.
    pub fn projects(&self) -> Result<Vec<model::Project>, Error> {
        let base = format!("{}/projects?include=organization", self.settings.api_url);
        self.pages(&base, "projects", &mut |p| p)
    }

    /// The first page of `GET /projects`, one item: the cheapest authenticated call.
    pub fn first_projects_page(&self) -> Result<(), Error> {
        let url = format!("{}/projects?per_page=1", self.settings.api_url);
        self.get(&url, |r| {
            model::parse_page(r, "projects", |_: serde::de::IgnoredAny| {}).map(drop)
        })
    }

    /// `GET /projects/{id}` with its organization.
    pub fn project(&self, id: &str) -> Result<model::Project, Error> {
        let url = format!(
            "{}/projects/{}?include=organization",
            self.settings.api_url,
            path_escape(id)
        );
        self.get(&url, |r| serde_json::from_reader(r))
    }

    /// `GET /projects/{id}/devices` (every page) with facility and metro; each device is
    /// passed through `map` as soon as it is decoded, so only what `map` keeps is held.
    pub fn devices<U>(
        &self,
        project_id: &str,
        mut map: impl FnMut(model::Device) -> U,
    ) -> Result<Vec<U>, Error> {
        let base = format!(
            "{}/projects/{}/devices?include=facility,metro",
            self.settings.api_url,
            path_escape(project_id)
        );
        self.pages(&base, "devices", &mut map)
    }

    /// Follows every page of a list. A page that fails half way and is retried has its
    /// items taken back first, so nothing is counted twice.
    fn pages<T: serde::de::DeserializeOwned, U>(
        &self,
        base: &str,
        key: &'static str,
        map: &mut dyn FnMut(T) -> U,
    ) -> Result<Vec<U>, Error> {
        let mut all: Vec<U> = Vec::new();
        let mut page = 1u64;
        loop {
            let url = format!("{base}&per_page={}&page={page}", self.settings.per_page);
            let before = all.len();
            let meta: Meta = self.get(&url, |r| {
                all.truncate(before);
                model::parse_page(r, key, |t: T| all.push(map(t)))
            })?;
            // `next` ends the list; a server that keeps saying "next" past its own
            // `last_page` is not followed further.
            if meta.next.is_none() || meta.last_page.is_some_and(|l| page >= l) {
                return Ok(all);
            }
            page += 1;
            if page > MAX_PAGES {
                return Err(Error::TooManyPages { url });
            }
        }
    }

    /// One GET with retries; `read` decodes a 2xx body (and may be called again on retry).
    fn get<T>(
        &self,
        url: &str,
        mut read: impl FnMut(&mut dyn Read) -> Result<T, serde_json::Error>,
    ) -> Result<T, Error> {
        let mut attempt = 0u32;
        loop {
            let pause = self
                .not_before
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .and_then(|t| t.checked_duration_since(std::time::Instant::now()));
            if let Some(p) = pause {
                crate::info!(
                    "packet-sd: API rate limit used up, waiting {:.1}s",
                    p.as_secs_f64()
                );
                std::thread::sleep(p);
            }
            let (err, wait) = match self.call(url) {
                Ok(resp) => {
                    let status = resp.status;
                    if let Some(w) = rate_limit_wait(
                        resp.header("x-ratelimit-remaining"),
                        resp.header("x-ratelimit-reset"),
                        SystemTime::now(),
                    ) {
                        *self.not_before.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(std::time::Instant::now() + w);
                    }
                    if (200..300).contains(&status) {
                        let mut r = BufReader::with_capacity(32 * 1024, resp.body);
                        match read(&mut r) {
                            Ok(v) => return Ok(v),
                            // Cut off mid-body (deadline, reset): worth another try.
                            Err(e) if e.is_io() => (
                                Error::Body {
                                    url: url.into(),
                                    err: e,
                                },
                                None,
                            ),
                            Err(e) => {
                                return Err(Error::Decode {
                                    url: url.into(),
                                    err: e,
                                })
                            }
                        }
                    } else {
                        let retry_after = resp
                            .header("retry-after")
                            .and_then(|v| httpc::parse_retry_after(v, SystemTime::now()));
                        let retryable = status == 429 || (status >= 500 && status != 501);
                        let message = error_message(resp.body);
                        let err = Error::Status {
                            url: url.into(),
                            status,
                            message,
                        };
                        if !retryable {
                            return Err(err);
                        }
                        (err, retry_after)
                    }
                }
                Err(e) => (
                    Error::Transport {
                        url: url.into(),
                        err: e,
                    },
                    None,
                ),
            };
            if attempt >= self.settings.retries {
                return Err(err);
            }
            let wait = wait.unwrap_or_else(|| backoff(attempt)).min(MAX_WAIT);
            crate::warn!(
                "{err}; try {} of {} in {:.1}s",
                attempt + 2,
                self.settings.retries + 1,
                wait.as_secs_f64()
            );
            std::thread::sleep(wait);
            attempt += 1;
        }
    }
}

/// 1 s, 2 s, 4 s, … at most 30 s (go-retryablehttp's schedule, which the original used).
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(Duration::from_secs(30))
}

/// How long to hold off after an answer whose rate-limit headers say nothing is left
/// (`X-RateLimit-Remaining: 0`, `X-RateLimit-Reset: <Unix seconds>`, as packngo reads them),
/// at most [`MAX_WAIT`].
pub fn rate_limit_wait(
    remaining: Option<&str>,
    reset: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    if remaining?.trim() != "0" {
        return None;
    }
    let reset: u64 = reset?.trim().parse().ok()?;
    let now = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)).min(MAX_WAIT))
}

/// The API's error text (`{"error": "..."}` or `{"errors": [...]}`), or the start of the body.
fn error_message(body: httpc::Body) -> String {
    let mut buf = Vec::new();
    let _ = body.take(4096).read_to_end(&mut buf);
    #[derive(serde::Deserialize)]
    struct ApiError {
        error: Option<String>,
        errors: Option<Vec<String>>,
    }
    if let Ok(e) = serde_json::from_slice::<ApiError>(&buf) {
        let mut parts: Vec<String> = e.error.into_iter().collect();
        parts.extend(e.errors.unwrap_or_default());
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(200).collect()
}

/// Percent-encodes a path segment (project ids are UUIDs, but come from the API or a flag).
fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let w = |r, t| rate_limit_wait(r, t, now);
        assert_eq!(w(Some("0"), Some("1005")), Some(Duration::from_secs(5)));
        assert_eq!(w(Some("0"), Some("900")), Some(Duration::ZERO));
        assert_eq!(w(Some("0"), Some("999999")), Some(MAX_WAIT));
        assert_eq!(w(Some("3"), Some("1005")), None);
        assert_eq!(w(None, Some("1005")), None);
        assert_eq!(w(Some("0"), Some("soon")), None);
    }

    #[test]
    fn backoff_doubles_up_to_30s() {
        let s: Vec<u64> = (0..8).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(s, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn escapes_path_segments() {
        assert_eq!(path_escape("2f0a-3c8e"), "2f0a-3c8e");
        assert_eq!(path_escape("a/b?c"), "a%2Fb%3Fc");
    }
}
