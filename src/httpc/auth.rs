//! Credentials and extra headers a user gives for promlet's HTTP requests (the proxy's
//! upstreams, push mode's remotes), with Prometheus's key names: `basic_auth`,
//! `authorization`, `headers`. One set of rules for both: secrets inline or in a file that is
//! re-read at every use (capped, trimmed, no control characters, never printed), header names
//! that are tokens and not reserved, values without control characters.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

// Secrets stay plain strings while deserializing (serde's String code is shared with every
// other key, a newtype would bring its own) and become [`Redacted`] in the checked config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    #[serde(default)]
    pub username: String,
    pub password: Option<String>,
    pub password_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorization {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub credentials: Option<String>,
    pub credentials_file: Option<String>,
}

/// A string that is never printed: `Debug` shows `<secret>`.
#[derive(Clone, PartialEq)]
pub struct Redacted(pub String);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// A secret given in the config or read from a file at every use.
#[derive(Debug, Clone, PartialEq)]
pub enum Secret {
    Inline(Redacted),
    File(PathBuf),
}

/// The largest secret file read.
const MAX_SECRET: u64 = 64 * 1024;

impl Secret {
    /// The secret given inline, or in `file` (relative to `base`).
    pub fn new(inline: &Option<String>, file: &Option<String>, base: &Path) -> Option<Secret> {
        match (inline, file) {
            (Some(s), _) => Some(Secret::Inline(Redacted(s.clone()))),
            (None, Some(f)) => Some(Secret::File(crate::config::resolve(base, Path::new(f)))),
            (None, None) => None,
        }
    }

    /// The secret now (a file is re-read, its surrounding blanks and newline trimmed, as
    /// Prometheus does). Errors name the file, never the content.
    pub fn read(&self) -> Result<String, String> {
        let v = match self {
            Secret::Inline(s) => s.0.clone(),
            Secret::File(p) => {
                use std::io::Read;
                let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
                let mut v = String::new();
                f.take(MAX_SECRET + 1)
                    .read_to_string(&mut v)
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                if v.len() as u64 > MAX_SECRET {
                    return Err(format!("{}: larger than {MAX_SECRET} bytes", p.display()));
                }
                v.trim().to_string()
            }
        };
        if !header_value_ok(&v) {
            return Err(match self {
                Secret::File(p) => format!("{}: holds control characters", p.display()),
                Secret::Inline(_) => "secret holds control characters".into(),
            });
        }
        Ok(v)
    }
}

/// What an `http` exporter sends as `Authorization`.
#[derive(Debug, Clone, PartialEq)]
pub enum Authorization {
    Basic {
        username: String,
        password: Option<Secret>,
    },
    /// `type credentials`, e.g. `Bearer <token>`.
    Scheme {
        scheme: String,
        credentials: Option<Secret>,
    },
}

impl Authorization {
    /// Reads an inline secret once, so a bad one stops promlet at start (a file is read, and
    /// checked, at every use).
    pub fn check_inline(&self) -> Result<(), String> {
        match self {
            Authorization::Basic {
                password: Some(p @ Secret::Inline(_)),
                ..
            }
            | Authorization::Scheme {
                credentials: Some(p @ Secret::Inline(_)),
                ..
            } => p.read().map(drop),
            _ => Ok(()),
        }
    }

    /// The header's value now (secret files re-read).
    pub fn value(&self) -> Result<String, String> {
        match self {
            Authorization::Basic { username, password } => {
                let pass = match password {
                    Some(p) => p.read()?,
                    None => String::new(),
                };
                Ok(format!(
                    "Basic {}",
                    crate::httpc::base64(format!("{username}:{pass}").as_bytes())
                ))
            }
            Authorization::Scheme {
                scheme,
                credentials,
            } => match credentials {
                Some(c) => Ok(format!("{scheme} {}", c.read()?)),
                None => Ok(scheme.clone()),
            },
        }
    }
}

/// Headers promlet writes itself, or that would change how the request is framed or
/// authenticated: Prometheus's reserved lists (`prometheus/common` config, and remote write's
/// in `config/config.go`), and `Accept`, which promlet negotiates.
const RESERVED_HEADERS: &[&str] = &[
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
    "Authorization",
    "Host",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Www-Authenticate",
    "Accept",
    "Accept-Encoding",
    "X-Prometheus-Remote-Write-Version",
    "X-Prometheus-Remote-Read-Version",
    "X-Prometheus-Scrape-Timeout-Seconds",
    "Transfer-Encoding",
    "TE",
    "Trailer",
    "Upgrade",
];

/// An RFC 9110 token (a header name).
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value without CR, LF or other control characters (tab allowed).
pub fn header_value_ok(v: &str) -> bool {
    !v.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f)
}

/// True if `name` is a header promlet writes itself (any case).
pub fn is_reserved_header(name: &str) -> bool {
    RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
}
