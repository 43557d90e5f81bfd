//! `--web.config.file`: TLS, client certificates and basic auth in the exporter-toolkit web
//! configuration format (<https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md>),
//! so a file written for node_exporter works here unchanged.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: /etc/promlet/server.pem
//!   key_file: /etc/promlet/server.key
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: /etc/promlet/ca.pem
//!   min_version: TLS12
//! basic_auth_users:
//!   prometheus: $2y$10$...   # bcrypt (htpasswd -nBC 10 "" | tr -d ':\n')
//! ```
//!
//! Every key the format knows is read; a key it does not know, or a value promlet cannot honour
//! (TLS 1.0/1.1, a cipher suite rustls lacks), stops promlet at start with file and line: a
//! security setting that is silently ignored is worse than none.

use std::path::Path;
use std::sync::Arc;

use crate::httpd::Options;

#[cfg(any(feature = "tls", feature = "proxy"))]
pub(crate) mod imp {
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::hash::{BuildHasher, Hash, Hasher};
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use serde::Deserialize;

    use crate::httpd::{Authenticator, Request, Response};

    #[derive(Deserialize, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct WebConfig {
        pub tls_server_config: Option<TlsServerConfig>,
        pub http_server_config: Option<HttpServerConfig>,
        pub basic_auth_users: Option<BTreeMap<String, String>>,
    }

    // Read in every build that reads the file, so that its keys are checked the same way; only
    // a build with TLS uses the values (one without refuses the section, `load`).
    #[derive(Deserialize, Debug, Default, Clone)]
    #[serde(deny_unknown_fields)]
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub struct TlsServerConfig {
        pub cert_file: Option<String>,
        pub key_file: Option<String>,
        pub client_auth_type: Option<String>,
        pub client_ca_file: Option<String>,
        pub client_allowed_sans: Option<Vec<String>>,
        pub min_version: Option<String>,
        pub max_version: Option<String>,
        pub cipher_suites: Option<Vec<String>>,
        pub prefer_server_cipher_suites: Option<bool>,
        pub curve_preferences: Option<Vec<String>>,
    }

    #[derive(Deserialize, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct HttpServerConfig {
        /// Accepted for compatibility; promlet speaks HTTP/1.1, which every scraper accepts.
        #[allow(dead_code)]
        pub http2: Option<bool>,
        pub headers: Option<BTreeMap<String, String>>,
    }

    /// Basic auth against bcrypt hashes. bcrypt is slow on purpose (tens of milliseconds on a
    /// router), so a successful check is remembered under a keyed 128-bit hash of user and
    /// password: Prometheus sends the same credentials every scrape. The keys are random per
    /// process, so the cache cannot be probed offline; the bcrypt comparison itself is
    /// constant-time, and an unknown user costs a bcrypt run too (no user enumeration by timing).
    pub struct BasicAuth {
        users: HashMap<String, String>,
        dummy: String,
        keys: (
            std::collections::hash_map::RandomState,
            std::collections::hash_map::RandomState,
        ),
        ok: Mutex<HashSet<u128>>,
    }

    const CACHE_MAX: usize = 256;

    impl BasicAuth {
        pub fn new(users: BTreeMap<String, String>) -> Result<BasicAuth, String> {
            let cost = bcrypt_cost(&users)?;
            // A hash for unknown users, of the same cost, so they take as long as known ones.
            let dummy =
                bcrypt::hash_with_salt("promlet-unknown-user", cost.clamp(4, 31), [7u8; 16])
                    .map_err(|e| format!("basic_auth_users: {e}"))?
                    .format_for_version(bcrypt::Version::TwoB);
            Ok(BasicAuth {
                users: users.into_iter().collect(),
                dummy,
                keys: Default::default(),
                ok: Mutex::new(HashSet::new()),
            })
        }

        fn cache_key(&self, user: &str, pass: &str) -> u128 {
            let h = |s: &std::collections::hash_map::RandomState| {
                let mut h = s.build_hasher();
                user.hash(&mut h);
                pass.hash(&mut h);
                h.finish()
            };
            ((h(&self.keys.0) as u128) << 64) | h(&self.keys.1) as u128
        }

        /// True if `user`/`pass` match.
        pub fn verify(&self, user: &str, pass: &str) -> bool {
            let key = self.cache_key(user, pass);
            if self
                .ok
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&key)
            {
                return true;
            }
            let ok = match self.users.get(user) {
                Some(hash) => bcrypt::verify(pass, hash).unwrap_or(false),
                None => {
                    let _ = bcrypt::verify(pass, &self.dummy);
                    false
                }
            };
            if ok {
                let mut c = self.ok.lock().unwrap_or_else(|e| e.into_inner());
                if c.len() >= CACHE_MAX {
                    c.clear();
                }
                c.insert(key);
            }
            ok
        }
    }

    fn unauthorized() -> Response {
        Response::text(401, "Unauthorized").with_header(
            "WWW-Authenticate",
            "Basic realm=\"promlet\", charset=\"UTF-8\"",
        )
    }

    impl Authenticator for BasicAuth {
        fn check(&self, req: &Request) -> Result<(), Response> {
            let creds = req
                .header("authorization")
                .and_then(|h| {
                    let (scheme, rest) = h.trim().split_once(' ')?;
                    scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
                })
                .and_then(base64_decode)
                .and_then(|b| String::from_utf8(b).ok());
            let Some(creds) = creds else {
                return Err(unauthorized());
            };
            let Some((user, pass)) = creds.split_once(':') else {
                return Err(unauthorized());
            };
            if self.verify(user, pass) {
                Ok(())
            } else {
                Err(unauthorized())
            }
        }
    }

    /// Standard base64 (RFC 4648 §4), padding optional; None on anything else.
    pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
        let s = s.trim_end_matches('=');
        let mut out = Vec::with_capacity(s.len() * 3 / 4);
        let mut acc = 0u32;
        let mut bits = 0;
        for c in s.bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            } as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        Some(out)
    }

    /// Reads the file: the parsed config and its text (for line numbers).
    pub fn read(path: &Path) -> Result<(WebConfig, String), String> {
        let (c, text): (Option<WebConfig>, String) = crate::config::load(path)?;
        Ok((c.unwrap_or_default(), text))
    }

    /// Parses the file's text.
    pub fn parse(path: &Path, text: &str) -> Result<WebConfig, String> {
        let c: Option<WebConfig> = crate::config::parse(path, text)?;
        Ok(c.unwrap_or_default())
    }

    /// The checks of everything but TLS that need no work: unsupported keys, password hashes.
    pub fn check(path: &Path, text: &str, c: &WebConfig) -> Result<(), String> {
        if let Some(h) = &c.http_server_config {
            if h.headers.as_ref().is_some_and(|h| !h.is_empty()) {
                let line = crate::config::line_of(text, "headers", None, 0);
                return Err(crate::config::at(
                    path,
                    line,
                    "http_server_config.headers is not supported by promlet",
                ));
            }
            // http2: promlet speaks HTTP/1.1 only, which every scraper accepts; nothing to do.
        }
        if let Some(u) = &c.basic_auth_users {
            let line = crate::config::line_of(text, "basic_auth_users", None, 0);
            bcrypt_cost(u).map_err(|m| crate::config::at(path, line, &m))?;
        }
        Ok(())
    }

    /// The bcrypt cost of the hashes (the last one's), or which user's password is no
    /// bcrypt hash.
    fn bcrypt_cost(users: &BTreeMap<String, String>) -> Result<u32, String> {
        let mut cost = 10;
        for (u, h) in users {
            let c = ["$2a$", "$2b$", "$2x$", "$2y$"]
                .iter()
                .any(|p| h.starts_with(p))
                .then(|| h.get(4..6)?.parse::<u32>().ok())
                .flatten();
            match c {
                Some(c) if h.len() == 60 => cost = c,
                _ => {
                    return Err(format!(
                        "basic_auth_users: the password of {u:?} is not a bcrypt hash ($2y$...)"
                    ))
                }
            }
        }
        Ok(cost)
    }

    pub fn auth(
        path: &Path,
        text: &str,
        c: &mut WebConfig,
    ) -> Result<Option<Arc<dyn Authenticator>>, String> {
        check(path, text, c)?;
        match c.basic_auth_users.take() {
            None => Ok(None),
            Some(u) if u.is_empty() => Ok(None),
            Some(u) => {
                let line = crate::config::line_of(text, "basic_auth_users", None, 0);
                let a = BasicAuth::new(u).map_err(|m| crate::config::at(path, line, &m))?;
                Ok(Some(Arc::new(a)))
            }
        }
    }
}

#[cfg(feature = "tls")]
pub use imp::TlsServerConfig;

/// Reads the web configuration and installs its TLS acceptor and authenticator in `opts`.
#[cfg(any(feature = "tls", feature = "proxy"))]
pub fn load(path: &Path, opts: &mut Options) -> Result<(), String> {
    let (mut c, text) = imp::read(path)?;
    opts.auth = imp::auth(path, &text, &mut c)?;
    if let Some(t) = &c.tls_server_config {
        let line = crate::config::line_of(&text, "tls_server_config", None, 0);
        #[cfg(feature = "tls")]
        {
            let acceptor = crate::tls::acceptor(t, path.parent().unwrap_or(Path::new(".")))
                .map_err(|m| crate::config::at(path, line_of_error(&text, &m).or(line), &m))?;
            opts.tls = Some(Arc::new(acceptor));
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = t;
            return Err(crate::config::at(
                path,
                line,
                "tls_server_config needs a promlet built with the tls feature (this one has no TLS)",
            ));
        }
    }
    Ok(())
}

/// The web configuration in force: re-read when its file changes (looked at on every new
/// connection and request, as exporter-toolkit re-reads its file) and on SIGHUP. A bad new
/// file is logged once and the previous configuration keeps serving. It is installed as
/// both the server's TLS acceptor and its authenticator, so a reload may turn TLS or basic
/// auth on or off.
pub struct Live {
    path: std::path::PathBuf,
    current: std::sync::RwLock<Arc<Loaded>>,
    /// The file as last read (or tried): a change of any of these means read it again.
    stamp: std::sync::Mutex<Option<(std::time::SystemTime, u64, u64)>>,
}

/// One reading of the file.
pub struct Loaded {
    tls: Option<Arc<dyn crate::httpd::TlsAcceptor>>,
    auth: Option<Arc<dyn crate::httpd::Authenticator>>,
}

fn stamp(path: &Path) -> Option<(std::time::SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

impl Live {
    /// Reads the file; an error stops promlet at start.
    pub fn new(path: &Path) -> Result<Arc<Live>, String> {
        let st = stamp(path);
        let live = Live {
            path: path.to_path_buf(),
            current: std::sync::RwLock::new(Arc::new(Loaded {
                tls: None,
                auth: None,
            })),
            stamp: std::sync::Mutex::new(st),
        };
        let loaded = live.read()?;
        live.install(loaded);
        Ok(Arc::new(live))
    }

    /// Reads the file now, without installing it.
    pub fn read(&self) -> Result<Loaded, String> {
        let mut o = Options::default();
        load(&self.path, &mut o)?;
        Ok(Loaded {
            tls: o.tls,
            auth: o.auth,
        })
    }

    pub fn install(&self, l: Loaded) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(l);
    }

    fn current(&self) -> Arc<Loaded> {
        self.refresh();
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One stat per call; the file is read again only when it changed.
    fn refresh(&self) {
        let st = stamp(&self.path);
        {
            let mut last = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
            if *last == st {
                return;
            }
            *last = st;
        }
        match self.read() {
            Ok(l) => {
                self.install(l);
                crate::info!("web configuration {} reloaded", self.path.display());
            }
            Err(e) => crate::error!(
                "web configuration changed but cannot be used, still serving the previous one: {e}"
            ),
        }
    }
}

impl crate::httpd::TlsAcceptor for Live {
    fn accept(&self, tcp: std::net::TcpStream) -> std::io::Result<Box<dyn crate::httpd::Conn>> {
        match &self.current().tls {
            Some(t) => t.accept(tcp),
            None => Ok(Box::new(tcp)),
        }
    }
}

impl crate::httpd::Authenticator for Live {
    fn check(&self, req: &crate::httpd::Request) -> Result<(), crate::httpd::Response> {
        match &self.current().auth {
            Some(a) => a.check(req),
            None => Ok(()),
        }
    }
}

/// The line of the `tls_server_config` key an error is about: the first key line whose key,
/// or whose value, the message names (`min_version is above max_version`, `unknown TLS
/// version "TLS10"`, `/etc/x/server.pem: No such file`). The TLS settings are checked after
/// parsing, so the parser's own position is not there to use.
#[cfg(any(feature = "tls", all(test, feature = "proxy")))]
fn line_of_error(text: &str, msg: &str) -> Option<usize> {
    const KEYS: &[&str] = &[
        "cert_file",
        "key_file",
        "client_auth_type",
        "client_ca_file",
        "client_allowed_sans",
        "min_version",
        "max_version",
        "cipher_suites",
        "prefer_server_cipher_suites",
        "curve_preferences",
    ];
    let lines: Vec<(usize, &str, &str)> = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let (k, v) = l.split_once(':')?;
            let k = k.trim().trim_matches(['"', '\'', '-', ' ']);
            let v = v
                .split(" #")
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'', ',']);
            KEYS.contains(&k).then_some((i + 1, k, v))
        })
        .collect();
    let by_key = lines.iter().find(|(_, k, _)| msg.contains(k));
    let by_value = || {
        lines
            .iter()
            .find(|(_, _, v)| !v.is_empty() && msg.contains(v))
    };
    by_key.or_else(by_value).map(|(n, _, _)| *n)
}

/// Builds without serde cannot read the file at all.
#[cfg(not(any(feature = "tls", feature = "proxy")))]
pub fn load(path: &Path, _opts: &mut Options) -> Result<(), String> {
    Err(format!(
        "{}: web configuration files need a promlet built with the tls or proxy feature",
        path.display()
    ))
}

#[cfg(all(test, any(feature = "tls", feature = "proxy")))]
mod tests {
    use super::imp::{base64_decode, BasicAuth};
    #[cfg(feature = "yaml")]
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert!(base64_decode("a b").is_none());
    }

    #[test]
    fn basic_auth_checks_bcrypt_and_caches() {
        let hash = bcrypt::hash_with_salt("secret", 4, [1u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        let a = BasicAuth::new([("alice".to_string(), hash)].into_iter().collect()).unwrap();
        assert!(a.verify("alice", "secret"));
        assert!(a.verify("alice", "secret"));
        assert!(!a.verify("alice", "Secret"));
        assert!(!a.verify("bob", "secret"));
        assert!(BasicAuth::new(
            [("x".to_string(), "plain".to_string())]
                .into_iter()
                .collect()
        )
        .is_err());
    }

    #[test]
    fn bcrypt_cost_split_inside_a_character_is_refused_not_a_panic() {
        // 60 bytes starting like a bcrypt hash, a three-byte character where the cost goes:
        // slicing bytes 4..6 used to panic (and the release build aborts on panic).
        let hash = format!("$2y$€{}", "a".repeat(53));
        assert_eq!(hash.len(), 60);
        let users = [("u".to_string(), hash)].into_iter().collect();
        assert!(BasicAuth::new(users).is_err());
    }

    #[cfg(feature = "yaml")]
    fn load_text(text: &str) -> Result<Options, String> {
        let dir =
            std::env::temp_dir().join(format!("promlet-wc-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("web.yml");
        std::fs::write(&p, text).unwrap();
        let mut o = Options::default();
        load(&p, &mut o).map(|_| o)
    }

    #[cfg(feature = "yaml")]
    #[test]
    fn unknown_keys_refuse_to_start_with_line() {
        let e = load_text("basic_auth_users: {}\ntls_server_confg:\n  cert_file: x\n")
            .err()
            .unwrap();
        assert!(e.contains("web.yml:2:"), "{e}");
        let e =
            load_text("tls_server_config:\n  cert_file: x\n  key_file: y\n  min_versoin: TLS12\n")
                .err()
                .unwrap();
        assert!(e.contains("web.yml:4:"), "{e}");
        assert!(load_text("").unwrap().auth.is_none());
    }

    #[test]
    fn tls_errors_point_at_their_line() {
        let text = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS10\n  max_version: TLS12\n";
        assert_eq!(
            super::line_of_error(text, "unknown TLS version \"TLS10\""),
            Some(4)
        );
        assert_eq!(
            super::line_of_error(text, "min_version is above max_version"),
            Some(4)
        );
        assert_eq!(
            super::line_of_error(text, "/etc/promlet/server.key: No such file or directory"),
            Some(3)
        );
        assert_eq!(super::line_of_error(text, "something else"), None);
    }

    #[cfg(all(feature = "yaml", not(feature = "tls")))]
    #[test]
    fn tls_without_the_feature_refuses() {
        let e = load_text("tls_server_config:\n  cert_file: x\n  key_file: y\n")
            .err()
            .unwrap();
        assert!(e.contains("tls feature"), "{e}");
    }
}
