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
//! ```
//!
//! Validation happens here, at start, and every error names the file and line: a proxy that
//! starts with a typo would silently serve less than the user thinks (reverse_exporter's
//! failure mode).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{at, line_of};
use crate::expfmt::is_label_name;

/// Default per-exporter timeout; a scrape's own deadline can only shorten it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize, Debug)]
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

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawPath {
    path: String,
    exporters: Vec<RawExporter>,
}

#[derive(Deserialize, Debug)]
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
    /// PEM file of the CA that signed an `https` upstream (instead of the system roots).
    ca_file: Option<String>,
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
    Http {
        url: String,
        ca_file: Option<String>,
    },
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

/// Parses config text (tests).
#[cfg(test)]
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
    let has_remote_write = raw.remote_write.is_some();
    let mut out = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    let mut name_seen: BTreeMap<String, usize> = BTreeMap::new();
    for p in raw.proxy {
        let nth_path = paths.iter().filter(|x| **x == p.path).count();
        let pline = line_of(text, "path", Some(&p.path), nth_path);
        let err = |line: Option<usize>, msg: String| at(file, line, &msg);
        if !p.path.starts_with('/') || p.path.contains(['?', '#', ' ']) {
            return Err(err(
                pline,
                format!(
                    "path {:?} must start with '/' and hold no '?', '#' or blank",
                    p.path
                ),
            ));
        }
        if paths.contains(&p.path) {
            return Err(err(pline, format!("duplicate path {:?}", p.path)));
        }
        if reserved.contains(&p.path.as_str()) || p.path == "/" {
            return Err(err(
                pline,
                format!("path {:?} is already served by promlet itself", p.path),
            ));
        }
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
                Some(s) => Some(
                    crate::flags::parse_duration(s)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| ctx(&format!("bad interval {s:?}")))?,
                ),
            };
            let source = match (&e.http, &e.file, &e.exec) {
                (Some(u), None, None) => {
                    if interval.is_some() {
                        return Err(ctx("interval is only for exec"));
                    }
                    super::http::Url::parse(u).map_err(|m| ctx(&m))?;
                    Source::Http {
                        url: u.clone(),
                        ca_file: e.ca_file.clone(),
                    }
                }
                (None, Some(f), None) => {
                    if interval.is_some() {
                        return Err(ctx("interval is only for exec"));
                    }
                    if f.is_empty() {
                        return Err(ctx("file is empty"));
                    }
                    Source::File(f.clone())
                }
                (None, None, Some(argv)) => {
                    if argv.is_empty() || argv[0].is_empty() {
                        return Err(ctx("exec needs a command (a list: [program, args...])"));
                    }
                    match interval {
                        Some(i) => Source::ExecCached(argv.clone(), i),
                        None => Source::Exec(argv.clone()),
                    }
                }
                (None, None, None) => {
                    return Err(ctx("needs one source: http, file or exec"));
                }
                _ => return Err(ctx("has more than one source (http, file, exec)")),
            };
            if e.ca_file.is_some() && !matches!(source, Source::Http { .. }) {
                return Err(ctx("ca_file is only for http"));
            }
            let timeout = match &e.timeout {
                None => DEFAULT_TIMEOUT,
                Some(s) => crate::flags::parse_duration(s)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| ctx(&format!("bad timeout {s:?}")))?,
            };
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

    /// Case 24 and 6: every config error fails the load, with the line of the offending item.
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
}
