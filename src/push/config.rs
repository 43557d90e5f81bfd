//! Push mode's part of `--config.file`: Prometheus's own `global` and `remote_write` keys with
//! their meanings and defaults (Prometheus 2.42 `config/config.go`), plus promlet's `push`
//! section (what is gathered) and two bounds Prometheus does not need (it has a WAL):
//!
//! ```yaml
//! global:
//!   scrape_interval: 15s          # how often promlet gathers and pushes (default 1m)
//!   external_labels: {site: r1}   # added to every series that lacks the label
//! remote_write:
//!   - url: https://metrics.example.net/api/v1/write
//!     name: central                # `remote` label of promlet's own metrics
//!     remote_timeout: 30s
//!     headers: {X-Scope-OrgID: tenant1}
//!     basic_auth: {username: r1, password_file: /etc/promlet/rw.pass}
//!     # or: authorization: {type: Bearer, credentials_file: /etc/promlet/rw.token}
//!     tls_config: {ca_file: ..., cert_file: ..., key_file: ..., server_name: ..., insecure_skip_verify: false}
//!     queue_config:
//!       max_samples_per_send: 500
//!       batch_send_deadline: 5s   # accepted; promlet sends each gather at once
//!       min_backoff: 30ms
//!       max_backoff: 5s
//!       capacity: 2500            # accepted for compatibility
//!       max_buffer_bytes: 4194304 # promlet: compressed bytes kept during an outage
//!       max_sample_age: 1h        # promlet: a batch still failing with 5xx after this is dropped
//! push:
//!   instance: router1             # default: the host name
//!   paths:                        # default: [{path: /metrics, job: node}]
//!     - path: /metrics
//!       job: node
//!     - path: /merged             # job defaults to the path's name, "merged"
//!   spool_directory: /var/lib/promlet/spool  # off by default: keeps the queue across restarts
//!   spool_max_bytes: 268435456    # per remote (default 256 MiB); the oldest is dropped first
//! ```
//!
//! Relative file names (`password_file`, `ca_file`, ...) are relative to the config file's
//! directory. Every error names the file and line.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::config::{at, line_of};
use crate::expfmt::is_label_name;
use crate::flags::parse_duration;
use crate::httpc::auth::{
    header_value_ok, is_reserved_header, is_token, Authorization, RawAuthorization, RawBasicAuth,
    Secret,
};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    global: RawGlobal,
    #[serde(default)]
    remote_write: Vec<RawRemote>,
    push: Option<RawPush>,
    // Other parts' sections, read by them.
    #[allow(dead_code)]
    proxy: Option<IgnoredAny>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    scrape_interval: Option<String>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    // Prometheus keys with no meaning for an agent that scrapes itself.
    #[allow(dead_code)]
    scrape_timeout: Option<IgnoredAny>,
    #[allow(dead_code)]
    evaluation_interval: Option<IgnoredAny>,
}

// No Debug: it holds secrets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemote {
    url: String,
    name: Option<String>,
    remote_timeout: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    basic_auth: Option<RawBasicAuth>,
    authorization: Option<RawAuthorization>,
    tls_config: Option<RawTls>,
    #[serde(default)]
    queue_config: RawQueue,
}

/// `tls_config`: the one TLS client's options (`ca_file`, `cert_file`, `key_file`,
/// `server_name`, `insecure_skip_verify`), shared with the proxy's upstreams.
#[cfg(feature = "tls")]
type RawTls = crate::tls::ClientOptions;
#[cfg(not(feature = "tls"))]
type RawTls = IgnoredAny;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    capacity: Option<u64>,
    max_samples_per_send: Option<usize>,
    batch_send_deadline: Option<String>,
    min_backoff: Option<String>,
    max_backoff: Option<String>,
    max_buffer_bytes: Option<usize>,
    max_sample_age: Option<String>,
    // Prometheus's sharding keys: one sender per remote here.
    #[allow(dead_code)]
    min_shards: Option<IgnoredAny>,
    #[allow(dead_code)]
    max_shards: Option<IgnoredAny>,
    #[allow(dead_code)]
    retry_on_http_429: Option<IgnoredAny>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawPush {
    instance: Option<String>,
    paths: Option<Vec<RawPushPath>>,
    spool_directory: Option<String>,
    spool_max_bytes: Option<u64>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawPushPath {
    path: String,
    job: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Remote {
    pub url: String,
    /// `remote` label of promlet's own metrics: `name`, else the URL without credentials.
    pub name: String,
    pub timeout: Duration,
    pub headers: Vec<(String, String)>,
    /// `Authorization`, from basic_auth or authorization (secret files are read at each send,
    /// so a rotated token is picked up without a restart).
    pub auth: Option<Authorization>,
    /// The TLS client for an https url.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::Client>,
    pub max_samples_per_send: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub max_buffer_bytes: usize,
    pub max_sample_age: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PushPath {
    pub path: String,
    pub job: String,
}

/// The on-disk spool (`push.spool_directory`, `push.spool_max_bytes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    pub directory: std::path::PathBuf,
    /// The cap of each remote's spool.
    pub max_bytes: u64,
}

/// The whole push configuration; `remotes` empty means push mode is off.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub interval: Duration,
    pub external_labels: Vec<(String, String)>,
    pub instance: String,
    pub paths: Vec<PushPath>,
    pub remotes: Vec<Remote>,
    pub spool: Option<SpoolConfig>,
}

/// Reads the push configuration from `path`; `host` is the default `instance`.
pub fn load(path: &Path, host: &str) -> Result<Config, String> {
    let (raw, text): (RawFile, String) = crate::config::load(path)?;
    validate(path, &text, raw, host)
}

#[cfg(test)]
pub fn parse(path: &Path, text: &str, host: &str) -> Result<Config, String> {
    let raw: RawFile = crate::config::parse(path, text)?;
    validate(path, text, raw, host)
}

fn duration(
    file: &Path,
    text: &str,
    key: &str,
    v: Option<&str>,
    default: Duration,
) -> Result<Duration, String> {
    match v {
        None => Ok(default),
        Some(s) => parse_duration(s).filter(|d| !d.is_zero()).ok_or_else(|| {
            at(
                file,
                line_of(text, key, Some(s), 0),
                &format!("{key}: {s:?} is not a positive duration like 30s or 1m"),
            )
        }),
    }
}

fn validate(file: &Path, text: &str, raw: RawFile, host: &str) -> Result<Config, String> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let interval = duration(
        file,
        text,
        "scrape_interval",
        raw.global.scrape_interval.as_deref(),
        Duration::from_secs(60),
    )?;
    for (k, v) in &raw.global.external_labels {
        if !is_label_name(k) || k.starts_with("__") {
            return Err(at(
                file,
                line_of(text, k, Some(v), 0),
                &format!("external label name {k:?} is not valid"),
            ));
        }
    }
    let external_labels = raw
        .global
        .external_labels
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let mut remotes: Vec<Remote> = Vec::new();
    for (n, r) in raw.remote_write.into_iter().enumerate() {
        let line = line_of(text, "url", Some(&r.url), 0);
        let err = |msg: String| at(file, line, &msg);
        let url = crate::httpc::Url::parse(&r.url).map_err(&err)?;
        let name = r
            .name
            .clone()
            .unwrap_or_else(|| format!("{}:{}{}", url.host, url.port, url.target));
        if remotes.iter().any(|o| o.name == name) {
            return Err(err(format!(
                "remote_write {n}: name {name:?} is used twice (give each remote a name)"
            )));
        }
        let mut headers = Vec::new();
        for (k, v) in r.headers {
            if is_reserved_header(&k) {
                return Err(at(
                    file,
                    line_of(text, &k, None, 0),
                    &format!("header {k:?} is set by promlet (use basic_auth or authorization for credentials)"),
                ));
            }
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                || !header_value_ok(&v)
            {
                return Err(at(
                    file,
                    line_of(text, &k, None, 0),
                    &format!("header {k:?} is not a valid header"),
                ));
            }
            headers.push((k, v));
        }
        let auth = match (r.basic_auth, r.authorization) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "at most one of basic_auth and authorization may be set".into(),
                ))
            }
            (Some(b), None) => {
                if b.password.is_some() && b.password_file.is_some() {
                    return Err(err(
                        "basic_auth: at most one of password and password_file".into()
                    ));
                }
                Some(Authorization::Basic {
                    username: b.username,
                    password: Secret::new(&b.password, &b.password_file, dir),
                })
            }
            (None, Some(a)) => {
                if a.credentials.is_some() && a.credentials_file.is_some() {
                    return Err(err(
                        "authorization: at most one of credentials and credentials_file".into(),
                    ));
                }
                let scheme = a.kind.unwrap_or_else(|| "Bearer".into());
                if !is_token(&scheme) {
                    return Err(err(format!("authorization: bad type {scheme:?}")));
                }
                let credentials = Secret::new(&a.credentials, &a.credentials_file, dir);
                if credentials.is_none() {
                    return Err(err(
                        "authorization: credentials or credentials_file is needed".into(),
                    ));
                }
                Some(Authorization::Scheme {
                    scheme,
                    credentials,
                })
            }
            (None, None) => None,
        };
        // An inline secret is checked now (a file is read, and checked, at each send).
        if let Some(a) = &auth {
            a.check_inline().map_err(&err)?;
        }
        if !url.https && r.tls_config.is_some() {
            return Err(err(format!(
                "tls_config given for a plain http url {:?}",
                r.url
            )));
        }
        #[cfg(feature = "tls")]
        let tls = if url.https {
            let opts = r.tls_config.unwrap_or_default().relative_to(dir);
            Some(crate::tls::client_config(&opts).map_err(|m| err(format!("tls_config: {m}")))?)
        } else {
            None
        };
        let q = r.queue_config;
        let _ = (q.capacity, q.batch_send_deadline);
        let min_backoff = duration(
            file,
            text,
            "min_backoff",
            q.min_backoff.as_deref(),
            Duration::from_millis(30),
        )?;
        let max_backoff = duration(
            file,
            text,
            "max_backoff",
            q.max_backoff.as_deref(),
            Duration::from_secs(5),
        )?;
        let max_samples_per_send = q.max_samples_per_send.unwrap_or(500);
        if max_samples_per_send == 0 {
            return Err(err(
                "queue_config: max_samples_per_send must be at least 1".into()
            ));
        }
        let max_buffer_bytes = q.max_buffer_bytes.unwrap_or(4 << 20);
        if max_buffer_bytes < 64 << 10 {
            return Err(err(
                "queue_config: max_buffer_bytes must be at least 65536".into()
            ));
        }
        remotes.push(Remote {
            url: r.url,
            name,
            timeout: duration(
                file,
                text,
                "remote_timeout",
                r.remote_timeout.as_deref(),
                Duration::from_secs(30),
            )?,
            headers,
            auth,
            #[cfg(feature = "tls")]
            tls,
            max_samples_per_send,
            min_backoff,
            max_backoff,
            max_buffer_bytes,
            max_sample_age: duration(
                file,
                text,
                "max_sample_age",
                q.max_sample_age.as_deref(),
                Duration::from_secs(3600),
            )?,
        });
    }
    let push = raw.push;
    let spool = match push.as_ref() {
        Some(RawPush {
            spool_directory: Some(d),
            spool_max_bytes,
            ..
        }) => {
            let line = line_of(text, "spool_directory", Some(d), 0);
            if d.is_empty() {
                return Err(at(file, line, "spool_directory is empty"));
            }
            let max_bytes = spool_max_bytes.unwrap_or(256 << 20);
            if max_bytes < 1 << 20 {
                return Err(at(
                    file,
                    line_of(text, "spool_max_bytes", None, 0),
                    "spool_max_bytes must be at least 1048576",
                ));
            }
            Some(SpoolConfig {
                directory: dir.join(d),
                max_bytes,
            })
        }
        Some(RawPush {
            spool_directory: None,
            spool_max_bytes: Some(_),
            ..
        }) => {
            return Err(at(
                file,
                line_of(text, "spool_max_bytes", None, 0),
                "spool_max_bytes without spool_directory",
            ))
        }
        _ => None,
    };
    let instance = push
        .as_ref()
        .and_then(|p| p.instance.clone())
        .unwrap_or_else(|| host.to_string());
    let paths = match push.and_then(|p| p.paths) {
        None => vec![PushPath {
            path: "/metrics".into(),
            job: "node".into(),
        }],
        Some(ps) => {
            let mut out: Vec<PushPath> = Vec::new();
            for p in ps {
                let line = line_of(text, "path", Some(&p.path), 0);
                if !p.path.starts_with('/') || out.iter().any(|o| o.path == p.path) {
                    return Err(at(
                        file,
                        line,
                        &format!(
                            "push path {:?} must start with '/' and be listed once",
                            p.path
                        ),
                    ));
                }
                let job = p.job.unwrap_or_else(|| match p.path.as_str() {
                    "/metrics" => "node".into(),
                    other => other.trim_matches('/').replace('/', "_"),
                });
                out.push(PushPath { path: p.path, job });
            }
            out
        }
    };
    Ok(Config {
        interval,
        external_labels,
        instance,
        paths,
        remotes,
        spool,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(text: &str) -> Result<Config, String> {
        parse(Path::new("/etc/promlet/promlet.json"), text, "box")
    }

    #[test]
    fn defaults_are_prometheus_ones() {
        let c = parse_json(r#"{"remote_write": [{"url": "http://127.0.0.1:9090/api/v1/write"}]}"#)
            .unwrap();
        assert_eq!(c.interval, Duration::from_secs(60));
        assert_eq!(c.instance, "box");
        assert_eq!(
            c.paths,
            [PushPath {
                path: "/metrics".into(),
                job: "node".into()
            }]
        );
        let r = &c.remotes[0];
        assert_eq!(r.timeout, Duration::from_secs(30));
        assert_eq!(r.min_backoff, Duration::from_millis(30));
        assert_eq!(r.max_backoff, Duration::from_secs(5));
        assert_eq!(r.max_samples_per_send, 500);
        assert_eq!(r.name, "127.0.0.1:9090/api/v1/write");
        assert_eq!(r.auth, None);
    }

    #[test]
    fn full_config_with_relative_secret_files() {
        let c = parse_json(
            r#"{"global": {"scrape_interval": "15s", "external_labels": {"site": "r1", "empty": ""}},
                "remote_write": [{"url": "http://vm:8428/api/v1/write", "name": "vm",
                   "headers": {"X-Scope-OrgID": "t1"},
                   "basic_auth": {"username": "u", "password_file": "rw.pass"},
                   "queue_config": {"max_samples_per_send": 100, "max_sample_age": "10m"}}],
                "push": {"instance": "r1", "paths": [{"path": "/metrics"}, {"path": "/merged"}]},
                "proxy": []}"#,
        )
        .unwrap();
        assert_eq!(c.interval, Duration::from_secs(15));
        assert_eq!(c.external_labels, [("site".to_string(), "r1".to_string())]);
        assert_eq!(c.paths[1].job, "merged");
        let r = &c.remotes[0];
        assert_eq!(
            r.auth,
            Some(Authorization::Basic {
                username: "u".into(),
                password: Some(Secret::File("/etc/promlet/rw.pass".into()))
            })
        );
        assert_eq!(r.headers, [("X-Scope-OrgID".to_string(), "t1".to_string())]);
        assert_eq!(r.max_sample_age, Duration::from_secs(600));
        assert_eq!(c.spool, None);
    }

    #[test]
    fn spool_directory_relative_to_the_config_and_capped() {
        let c = parse_json(
            r#"{"remote_write": [{"url": "http://vm:8428/api/v1/write"}],
                "push": {"spool_directory": "spool"}}"#,
        )
        .unwrap();
        assert_eq!(
            c.spool,
            Some(SpoolConfig {
                directory: "/etc/promlet/spool".into(),
                max_bytes: 256 << 20
            })
        );
        for (text, want) in [
            (
                r#"{"push": {"spool_directory": "/s", "spool_max_bytes": 1000}}"#,
                "at least",
            ),
            (r#"{"push": {"spool_max_bytes": 10000000}}"#, "without"),
        ] {
            let e = parse_json(text).unwrap_err();
            assert!(
                e.contains(want) && e.starts_with("/etc/promlet/promlet.json:1"),
                "{e}"
            );
        }
    }

    #[test]
    fn mistakes_are_refused() {
        for (text, want) in [
            (r#"{"remote_write": [{"url": "ftp://x"}]}"#, "http"),
            (
                r#"{"remote_write": [{"url": "http://x/", "headers": {"Content-Type": "x"}}]}"#,
                "set by promlet",
            ),
            (
                r#"{"remote_write": [{"url": "http://x/", "headers": {"Authorization": "x"}}]}"#,
                "basic_auth",
            ),
            (
                r#"{"remote_write": [{"url": "http://x/", "basic_auth": {"username": "u"}, "authorization": {"credentials": "c"}}]}"#,
                "at most one",
            ),
            (
                r#"{"remote_write": [{"url": "http://x/", "remote_timeout": "soon"}]}"#,
                "duration",
            ),
            (
                r#"{"remote_write": [{"url": "http://x/"}, {"url": "http://x/"}]}"#,
                "twice",
            ),
            (
                r#"{"remote_write": [{"url": "http://x/", "tls_config": {"ca_file": "a"}}]}"#,
                "plain http",
            ),
            (
                r#"{"remote_write": [{"url": "http://x/", "queue_config": {"max_samples_per_send": 0}}]}"#,
                "at least 1",
            ),
            (
                r#"{"remote_write": [{"url": "http://x/", "bogus": 1}]}"#,
                "bogus",
            ),
            (
                r#"{"global": {"external_labels": {"__x": "1"}}}"#,
                "not valid",
            ),
            (
                r#"{"push": {"paths": [{"path": "metrics"}]}}"#,
                "start with",
            ),
        ] {
            let e = parse_json(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.starts_with("/etc/promlet/promlet.json"), "{e}");
        }
    }

    #[test]
    fn secret_files_lose_their_final_newline_and_never_print() {
        let dir = std::env::temp_dir().join(format!("promlet-push-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "s3cret\n").unwrap();
        let s = Secret::File(f);
        assert_eq!(s.read().unwrap(), "s3cret");
        assert!(!format!(
            "{:?}",
            Secret::Inline(crate::httpc::auth::Redacted("s3cret".into()))
        )
        .contains("s3cret"));
    }
}
