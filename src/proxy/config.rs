//! The proxy's part of `--config.file`: which paths to serve and which exporters each merges.
//!
//! ```yaml
//! proxy:
//!   - path: /merged
//!     exporters:
//!       - name: node
//!         http: http://127.0.0.1:9100/metrics
//!         timeout: 5s
//!         labels: {site: r1}
//!       - name: textfile
//!         file: /var/lib/promlet/extra.prom
//!       - name: script
//!         exec: [/usr/bin/my-script, --flag]
//!       - name: slow
//!         exec: [/usr/bin/slow-script]
//!         interval: 60s
//!       - name: remote
//!         http: https://10.0.0.7:9100/metrics
//!         basic_auth: {username: prom, password_file: secrets/remote.pass}
//!         headers: {X-Scope-OrgID: r1}
//!         tls_config:
//!           ca_file: ca.pem
//!           cert_file: client.pem
//!           key_file: client.key
//!           server_name: node7.example
//! ```
//!
//! An `http` exporter reaches its upstream as Prometheus's scrape configs do, with the same
//! keys: `basic_auth` (`username`, `password` or `password_file`), `authorization` (`type`,
//! Bearer by default, and `credentials` or `credentials_file`), `headers`, and `tls_config`
//! ([`crate::tls::ClientOptions`]; the older `ca_file` beside `http` is the same as
//! `tls_config.ca_file`). Secret files are read at every scrape, so a rotated secret is used
//! at once; no secret is ever logged. Relative paths are taken from the config file's folder.
//!
//! Validation happens here, at start, and every error names the file and line: a proxy that
//! starts with a typo would silently serve less than the user thinks (reverse_exporter's
//! failure mode).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{at, line_of};
use crate::expfmt::is_label_name;
use crate::httpc::auth::{
    header_value_ok, is_reserved_header, is_token, Authorization, RawAuthorization, RawBasicAuth,
    Redacted, Secret,
};

/// Default per-exporter timeout; a scrape's own deadline can only shorten it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    proxy: Vec<RawPath>,
    // Push mode's sections, read by it.
    #[allow(dead_code)]
    global: Option<serde::de::IgnoredAny>,
    remote_write: Option<serde::de::IgnoredAny>,
    #[allow(dead_code)]
    push: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPath {
    path: String,
    exporters: Vec<RawExporter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExporter {
    name: String,
    http: Option<String>,
    file: Option<String>,
    exec: Option<Vec<String>>,
    interval: Option<String>,
    timeout: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    no_rewrite: bool,
    /// PEM file of the CA that signed an `https` upstream: `tls_config.ca_file`, under its
    /// older name.
    ca_file: Option<String>,
    basic_auth: Option<RawBasicAuth>,
    authorization: Option<RawAuthorization>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    tls_config: Option<TlsConfigKeys>,
}

/// `tls_config`: the keys every TLS client of promlet shares, or, in a build without TLS,
/// anything (refused after parsing, with the line).
#[cfg(feature = "tls")]
type TlsConfigKeys = crate::tls::ClientOptions;
#[cfg(not(feature = "tls"))]
type TlsConfigKeys = serde::de::IgnoredAny;

/// An `http` exporter: its URL and how it is reached.
#[derive(Clone, PartialEq)]
pub struct Http {
    pub url: String,
    pub authorization: Option<Authorization>,
    /// Sent with every request (names checked, reserved ones refused).
    pub headers: Vec<(String, Redacted)>,
    /// For https: built at load, so a missing certificate stops promlet at start.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::Client>,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        let mut d = f.debug_struct("Http");
        d.field("url", &self.url)
            .field("authorization", &self.authorization)
            .field("headers", &names);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        d.finish()
    }
}

impl Http {
    /// The TLS client for an https URL.
    pub fn tls(&self) -> Option<&crate::httpc::Tls> {
        #[cfg(feature = "tls")]
        return self.tls.as_ref();
        #[cfg(not(feature = "tls"))]
        None
    }

    /// Calls `f` with this scrape's extra headers (secrets read now).
    pub fn with_headers<T>(
        &self,
        f: impl FnOnce(&[(&str, &str)]) -> Result<T, String>,
    ) -> Result<T, String> {
        let auth = match &self.authorization {
            Some(a) => Some(a.value()?),
            None => None,
        };
        let mut h: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.0.as_str()))
            .collect();
        if let Some(a) = &auth {
            h.push(("Authorization", a));
        }
        f(&h)
    }
}

/// One served path.
#[derive(Debug, Clone)]
pub struct PathConfig {
    pub path: String,
    pub exporters: Vec<ExporterConfig>,
}

/// Where an exporter's metrics come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Http(Box<Http>),
    File(String),
    Exec(Vec<String>),
    /// Run every `interval` in the background; scrapes get the last good output.
    ExecCached(Vec<String>, Duration),
}

#[derive(Debug, Clone)]
pub struct ExporterConfig {
    pub name: String,
    pub source: Source,
    pub timeout: Duration,
    /// Added to every sample, overriding upstream labels of the same name (sorted by name).
    pub labels: Vec<(String, String)>,
    /// Don't add `exporter_name` (the user promises the series are distinct).
    pub no_rewrite: bool,
}

/// Reads and validates the proxy config in `path`. `reserved` are paths promlet already
/// serves (`/metrics`).
pub fn load(path: &Path, reserved: &[&str]) -> Result<Vec<PathConfig>, String> {
    let (raw, text): (RawFile, String) = crate::config::load(path)?;
    validate(path, &text, raw, reserved)
}

/// Parses and validates config text (read from `path`, for messages).
pub fn parse(path: &Path, text: &str, reserved: &[&str]) -> Result<Vec<PathConfig>, String> {
    let raw: RawFile = crate::config::parse(path, text)?;
    validate(path, text, raw, reserved)
}

fn validate(
    file: &Path,
    text: &str,
    raw: RawFile,
    reserved: &[&str],
) -> Result<Vec<PathConfig>, String> {
    // Relative paths follow the config file, as the web config's do (under systemd the
    // working directory is `/`).
    let base = file.parent().unwrap_or(Path::new(""));
    let rel = |p: &str| -> String {
        if Path::new(p).is_absolute() {
            p.to_string()
        } else {
            base.join(p).to_string_lossy().into_owned()
        }
    };
    let has_remote_write = raw.remote_write.is_some();
    let mut out = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    let mut name_seen: BTreeMap<String, usize> = BTreeMap::new();
    for p in raw.proxy {
        let nth_path = paths.iter().filter(|x| **x == p.path).count();
        let pline = line_of(text, "path", Some(&p.path), nth_path);
        let err = |line: Option<usize>, msg: String| at(file, line, &msg);
        check_path(&p.path, &paths, reserved).map_err(|m| err(pline, m))?;
        paths.push(p.path.clone());
        if p.exporters.is_empty() {
            return Err(err(pline, format!("path {:?} has no exporters", p.path)));
        }
        let mut names: HashSet<String> = HashSet::new();
        let mut exporters = Vec::new();
        for e in p.exporters {
            // Names repeat across paths, so count occurrences to find the right line.
            let nth = *name_seen.get(&e.name).unwrap_or(&0);
            name_seen.insert(e.name.clone(), nth + 1);
            let eline = line_of(text, "name", Some(&e.name), nth).or(pline);
            if e.name.is_empty() {
                return Err(err(eline, "exporter name is empty".into()));
            }
            if !names.insert(e.name.clone()) {
                return Err(err(
                    eline,
                    format!("duplicate exporter name {:?} in path {:?}", e.name, p.path),
                ));
            }
            let ctx = |m: &str| err(eline, format!("exporter {:?}: {m}", e.name));
            let interval = match &e.interval {
                None => None,
                Some(s) => Some(positive_duration(s, "interval", &ctx)?),
            };
            let source = exporter_source(&e, interval, file, text, eline, &ctx, &rel)?;
            let timeout = match &e.timeout {
                None => DEFAULT_TIMEOUT,
                Some(s) => positive_duration(s, "timeout", &ctx)?,
            };
            let labels = exporter_labels(&e, file, text, eline)?;
            exporters.push(ExporterConfig {
                name: e.name,
                source,
                timeout,
                labels,
                no_rewrite: e.no_rewrite,
            });
        }
        out.push(PathConfig {
            path: p.path,
            exporters,
        });
    }
    // A file for push mode alone has no proxy paths; one with neither is a mistake.
    if out.is_empty() && !has_remote_write {
        return Err(at(
            file,
            None,
            "no proxy paths configured (key `proxy`), and no `remote_write`",
        ));
    }
    Ok(out)
}

/// The path rules: absolute, no query, fragment or blank, not twice, not one of promlet's own.
fn check_path(path: &str, seen: &[String], reserved: &[&str]) -> Result<(), String> {
    if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
        return Err(format!(
            "path {path:?} must start with '/' and hold no '?', '#' or blank"
        ));
    }
    if seen.iter().any(|p| p == path) {
        return Err(format!("duplicate path {path:?}"));
    }
    if reserved.contains(&path) || path == "/" {
        return Err(format!("path {path:?} is already served by promlet itself"));
    }
    Ok(())
}

/// A duration key (`interval`, `timeout`) that must be more than zero.
fn positive_duration(
    s: &str,
    what: &str,
    ctx: &dyn Fn(&str) -> String,
) -> Result<Duration, String> {
    crate::flags::parse_duration(s)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| ctx(&format!("bad {what} {s:?}")))
}

/// An exporter's one source (http, file or exec), and the keys that only an http one takes.
fn exporter_source(
    e: &RawExporter,
    interval: Option<Duration>,
    file: &Path,
    text: &str,
    eline: Option<usize>,
    ctx: &dyn Fn(&str) -> String,
    rel: &dyn Fn(&str) -> String,
) -> Result<Source, String> {
    let source = match (&e.http, &e.file, &e.exec) {
        (Some(u), None, None) => {
            if interval.is_some() {
                return Err(ctx("interval is only for exec"));
            }
            Source::Http(Box::new(http_source(u, e, file, text, eline, ctx)?))
        }
        (None, Some(f), None) => {
            if interval.is_some() {
                return Err(ctx("interval is only for exec"));
            }
            if f.is_empty() {
                return Err(ctx("file is empty"));
            }
            Source::File(rel(f))
        }
        (None, None, Some(argv)) => {
            if argv.is_empty() || argv[0].is_empty() {
                return Err(ctx("exec needs a command (a list: [program, args...])"));
            }
            // `./script` and `bin/script` are files next to the config; a bare
            // name is still looked up in PATH.
            let mut argv = argv.clone();
            if argv[0].contains('/') {
                argv[0] = rel(&argv[0]);
            }
            match interval {
                Some(i) => Source::ExecCached(argv, i),
                None => Source::Exec(argv),
            }
        }
        (None, None, None) => {
            return Err(ctx("needs one source: http, file or exec"));
        }
        _ => return Err(ctx("has more than one source (http, file, exec)")),
    };
    if !matches!(source, Source::Http(_)) {
        for (set, key) in [
            (e.ca_file.is_some(), "ca_file"),
            (e.tls_config.is_some(), "tls_config"),
            (e.basic_auth.is_some(), "basic_auth"),
            (e.authorization.is_some(), "authorization"),
            (!e.headers.is_empty(), "headers"),
        ] {
            if set {
                return Err(ctx(&format!("{key} is only for http")));
            }
        }
    }
    Ok(source)
}

/// An exporter's extra labels: valid names, not `__`-prefixed, not `exporter_name`.
fn exporter_labels(
    e: &RawExporter,
    file: &Path,
    text: &str,
    eline: Option<usize>,
) -> Result<Vec<(String, String)>, String> {
    let err = |line: Option<usize>, msg: String| at(file, line, &msg);
    let mut labels = Vec::new();
    for (k, v) in &e.labels {
        let lline = line_of(text, k, Some(v), 0).or(eline);
        if k == "exporter_name" {
            return Err(err(
                lline,
                format!(
                    "exporter {:?}: labels may not set exporter_name (it is the exporter's name)",
                    e.name
                ),
            ));
        }
        if !is_label_name(k) || k.starts_with("__") {
            return Err(err(
                lline,
                format!("exporter {:?}: invalid label name {k:?}", e.name),
            ));
        }
        labels.push((k.clone(), v.clone()));
    }
    Ok(labels)
}

/// An `http` exporter's URL, credentials, headers and TLS client, checked.
fn http_source(
    u: &str,
    e: &RawExporter,
    file: &Path,
    text: &str,
    eline: Option<usize>,
    ctx: &dyn Fn(&str) -> String,
) -> Result<Http, String> {
    let https = super::http::Url::parse(u).map_err(|m| ctx(&m))?.https;
    let base = file.parent().unwrap_or(Path::new("."));
    let authorization = match (&e.basic_auth, &e.authorization) {
        (Some(_), Some(_)) => return Err(ctx("basic_auth and authorization exclude each other")),
        (Some(b), None) => {
            if b.password.is_some() && b.password_file.is_some() {
                return Err(ctx(
                    "basic_auth: password and password_file exclude each other",
                ));
            }
            if b.username.contains(':') || !header_value_ok(&b.username) {
                return Err(ctx(
                    "basic_auth: username may not hold ':' or control characters",
                ));
            }
            Some(Authorization::Basic {
                username: b.username.clone(),
                password: Secret::new(&b.password, &b.password_file, base),
            })
        }
        (None, Some(a)) => {
            if a.credentials.is_some() && a.credentials_file.is_some() {
                return Err(ctx(
                    "authorization: credentials and credentials_file exclude each other",
                ));
            }
            let scheme = a.kind.clone().unwrap_or_else(|| "Bearer".into());
            if scheme.eq_ignore_ascii_case("basic") {
                return Err(ctx("authorization: type Basic is set with basic_auth"));
            }
            if !is_token(&scheme) {
                return Err(ctx(&format!("authorization: bad type {scheme:?}")));
            }
            Some(Authorization::Scheme {
                scheme,
                credentials: Secret::new(&a.credentials, &a.credentials_file, base),
            })
        }
        (None, None) => None,
    };
    if let Some(a) = &authorization {
        a.check_inline().map_err(|m| ctx(&m))?;
    }
    let mut headers = Vec::new();
    for (k, v) in &e.headers {
        let hline = line_of(text, k, None, 0).or(eline);
        let herr = |m: String| at(file, hline, &format!("exporter {:?}: {m}", e.name));
        if !is_token(k) {
            return Err(herr(format!("headers: bad header name {k:?}")));
        }
        if is_reserved_header(k) {
            return Err(herr(format!(
                "headers: {k} is reserved (promlet sets it, or it has its own key)"
            )));
        }
        if !header_value_ok(v) {
            return Err(herr(format!(
                "headers: the value of {k} holds control characters"
            )));
        }
        headers.push((k.clone(), Redacted(v.clone())));
    }
    #[cfg(feature = "tls")]
    let tls = {
        let mut o = e.tls_config.clone().unwrap_or_default();
        if let Some(ca) = &e.ca_file {
            if o.ca_file.is_some() {
                return Err(ctx("ca_file and tls_config.ca_file: give one"));
            }
            o.ca_file = Some(ca.into());
        }
        if https {
            let o = o.relative_to(base);
            Some(crate::tls::client_config(&o).map_err(|m| ctx(&m))?)
        } else if o != crate::tls::ClientOptions::default() {
            return Err(ctx("tls_config (and ca_file) are for https:// URLs"));
        } else {
            None
        }
    };
    // Url::parse refuses https:// in a build without TLS.
    #[cfg(not(feature = "tls"))]
    debug_assert!(!https);
    #[cfg(not(feature = "tls"))]
    if e.tls_config.is_some() || e.ca_file.is_some() {
        return Err(ctx(
            "tls_config needs a promlet built with the tls feature (this one has no TLS)",
        ));
    }
    Ok(Http {
        url: u.to_string(),
        authorization,
        headers,
        #[cfg(feature = "tls")]
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(s: &str) -> Result<Vec<PathConfig>, String> {
        parse(Path::new("c.yml"), s, &["/metrics"])
    }

    #[cfg(feature = "yaml")]
    #[test]
    fn reads_every_source_kind() {
        let c = load_str(
            "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: http://127.0.0.1:1/metrics\n    timeout: 2s\n    labels: {site: r1}\n  - name: b\n    file: /tmp/x.prom\n  - name: c\n    exec: [/bin/echo, hi]\n  - name: d\n    exec: [/bin/true]\n    interval: 1m\n",
        )
        .unwrap();
        let e = &c[0].exporters;
        assert_eq!(e[0].timeout, Duration::from_secs(2));
        assert_eq!(e[0].labels, vec![("site".to_string(), "r1".to_string())]);
        assert_eq!(e[1].source, Source::File("/tmp/x.prom".into()));
        assert_eq!(
            e[2].source,
            Source::Exec(vec!["/bin/echo".into(), "hi".into()])
        );
        assert_eq!(
            e[3].source,
            Source::ExecCached(vec!["/bin/true".into()], Duration::from_secs(60))
        );
    }

    /// JSON is read too (the YAML subset; the only format of a build without `yaml`).
    #[test]
    fn reads_json() {
        let c = load_str(
            "{\"proxy\": [{\"path\": \"/m\", \"exporters\": [{\"name\": \"a\", \"file\": \"/x\", \"labels\": {\"site\": \"r1\"}}]}]}",
        )
        .unwrap();
        assert_eq!(c[0].exporters[0].source, Source::File("/x".into()));
        let e = load_str("{\"proxy\": [{\"path\": \"/m\",\n \"exporters\": [{\"name\": \"a\", \"fil\": \"/x\"}]}]}")
            .unwrap_err();
        assert!(e.starts_with("c.yml:2:"), "{e}");
    }

    /// Cases 24 and 6 of docs/merging-proxy.md: every config error fails the load, with the
    /// line of the offending item.
    #[cfg(feature = "yaml")]
    #[test]
    fn config_errors_name_file_and_line() {
        let cases: &[(&str, &str)] = &[
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    file: /x\n- path: /m\n  exporters:\n  - name: a\n    file: /x\n",
                "c.yml:6: duplicate path \"/m\"",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    file: /x\n  - name: a\n    file: /y\n",
                "c.yml:6: duplicate exporter name \"a\"",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: ''\n    file: /x\n",
                "exporter name is empty",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    ftp: /x\n",
                "c.yml:5:",
            ),
            (
                "proxy:\n- path: /m\n  auth_type: basic\n  exporters:\n  - name: a\n    file: /x\n",
                "c.yml:3:",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    file: /x\n    labels:\n      exporter_name: z\n",
                "c.yml:7: exporter \"a\": labels may not set exporter_name",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    file: /x\n    labels:\n      1bad: z\n",
                "c.yml:7: exporter \"a\": invalid label name \"1bad\"",
            ),
            (
                "proxy:\n- path: /metrics\n  exporters:\n  - name: a\n    file: /x\n",
                "c.yml:2: path \"/metrics\" is already served",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    file: /x\n    exec: [a]\n",
                "more than one source",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: ftp://x/\n",
                "c.yml:4: exporter \"a\":",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    exec: []\n",
                "needs a command",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    file: /x\n    timeout: soon\n",
                "bad timeout",
            ),
            ("proxy: []\n", "no proxy paths"),
        ];
        for (text, want) in cases {
            let e = load_str(text).expect_err(text);
            assert!(e.contains(want), "{text}\nwant {want:?}\ngot {e:?}");
        }
    }

    #[cfg(feature = "yaml")]
    #[test]
    fn http_credentials_and_headers() {
        let dir = std::env::temp_dir().join(format!("promlet-proxy-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "t0k3n\n").unwrap();
        let cfg = dir.join("c.yml");
        let text = "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: http://127.0.0.1:1/metrics\n    basic_auth: {username: u, password: p}\n    headers: {X-Scope-OrgID: r1}\n  - name: b\n    http: http://127.0.0.1:1/metrics\n    authorization: {credentials_file: token}\n";
        let c = parse(&cfg, text, &[]).unwrap();
        let Source::Http(a) = &c[0].exporters[0].source else {
            panic!("not http")
        };
        let Source::Http(b) = &c[0].exporters[1].source else {
            panic!("not http")
        };
        let seen = |h: &Http| {
            h.with_headers(|hs| {
                Ok(hs
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>())
            })
            .unwrap()
        };
        let basic = format!("Authorization: Basic {}", crate::httpc::base64(b"u:p"));
        assert_eq!(seen(a), ["X-Scope-OrgID: r1", basic.as_str()]);
        // The file is relative to the config's folder and read at each use.
        assert_eq!(seen(b), ["Authorization: Bearer t0k3n"]);
        std::fs::write(dir.join("token"), "rotated").unwrap();
        assert_eq!(seen(b), ["Authorization: Bearer rotated"]);
        // Debug never shows a secret.
        let d = format!("{c:?}");
        assert!(!d.contains("r1") && !d.contains("\"p\""), "{d}");
    }

    #[cfg(feature = "yaml")]
    #[test]
    fn bad_credentials_fail_at_load_with_the_line() {
        let cases: &[(&str, &str)] = &[
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: http://h/\n    headers:\n      Authorization: x\n",
                "c.yml:7: exporter \"a\": headers: Authorization is reserved",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: http://h/\n    headers:\n      host: x\n",
                "c.yml:7: exporter \"a\": headers: host is reserved",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: http://h/\n    basic_auth: {username: u, password: p}\n    authorization: {credentials: t}\n",
                "c.yml:4: exporter \"a\": basic_auth and authorization exclude each other",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: http://h/\n    basic_auth: {username: u, password: p, password_file: f}\n",
                "password and password_file",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: http://h/\n    authorization: {type: Basic, credentials: x}\n",
                "type Basic",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: http://h/\n    basic_auth: {user: u}\n",
                "c.yml:6:",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    file: /x\n    basic_auth: {username: u}\n",
                "basic_auth is only for http",
            ),
        ];
        for (text, want) in cases {
            let e = load_str(text).expect_err(text);
            assert!(e.contains(want), "{text}\nwant {want:?}\ngot {e:?}");
        }
    }

    #[cfg(all(feature = "yaml", feature = "tls"))]
    #[test]
    fn tls_config_is_checked_at_load() {
        let cases: &[(&str, &str)] = &[
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: https://h/\n    tls_config: {cert_file: /nonexistent/c.pem, key_file: /nonexistent/k.pem}\n",
                "c.yml:4: exporter \"a\": /nonexistent/c.pem:",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: https://h/\n    tls_config: {ca_fil: x}\n",
                "c.yml:6:",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: http://h/\n    ca_file: /x.pem\n",
                "are for https:// URLs",
            ),
            (
                "proxy:\n- path: /m\n  exporters:\n  - name: a\n    http: https://h/\n    ca_file: /x.pem\n    tls_config: {ca_file: /y.pem}\n",
                "give one",
            ),
        ];
        for (text, want) in cases {
            let e = load_str(text).expect_err(text);
            assert!(e.contains(want), "{text}\nwant {want:?}\ngot {e:?}");
        }
    }

    /// The OpenWrt package's example (`/etc/promlet/promlet.example.json`) is what the router
    /// variant, which has no `yaml` feature, reads: JSON through serde_json as that build parses
    /// it, and through `parse` as this build does.
    #[test]
    fn openwrt_example_json_reads_without_yaml() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/openwrt/promlet/files/promlet.example.json"
        ));
        let text = std::fs::read_to_string(path).unwrap();
        let raw: RawFile = serde_json::from_str(&text).unwrap();
        let json_only = validate(path, &text, raw, &["/metrics"]).unwrap();
        let here = parse(path, &text, &["/metrics"]).unwrap();
        for c in [&json_only, &here] {
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].path, "/merged");
            let names: Vec<&str> = c[0].exporters.iter().map(|e| e.name.as_str()).collect();
            assert_eq!(names, ["node", "extra", "script"]);
            assert_eq!(
                c[0].exporters[2].source,
                Source::ExecCached(
                    vec!["/usr/bin/my-exporter-script".into()],
                    Duration::from_secs(60)
                )
            );
        }
    }
}
