//! `os`: `node_os_info` and `node_os_version` from os-release(5): `/etc/os-release`, else
//! `/usr/lib/os-release`, under `--path.rootfs`, as node_exporter 1.5's `os_release.go`. The
//! parsed file is kept until its path or modification time changes, as 1.5 does, so a scrape
//! costs one stat.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

/// The keys exported, as (os-release key, label), in label order.
const KEYS: [(&str, &str); 12] = [
    ("BUILD_ID", "build_id"),
    ("ID", "id"),
    ("ID_LIKE", "id_like"),
    ("IMAGE_ID", "image_id"),
    ("IMAGE_VERSION", "image_version"),
    ("NAME", "name"),
    ("PRETTY_NAME", "pretty_name"),
    ("VARIANT", "variant"),
    ("VARIANT_ID", "variant_id"),
    ("VERSION", "version"),
    ("VERSION_CODENAME", "version_codename"),
    ("VERSION_ID", "version_id"),
];

/// The file is small; anything larger is not an os-release file.
const MAX_LEN: u64 = 64 * 1024;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Os {
        files: [
            paths.rootfs.join("etc/os-release"),
            paths.rootfs.join("usr/lib/os-release"),
        ],
        cache: Mutex::new(None),
    }))
}

struct Os {
    files: [PathBuf; 2],
    cache: Mutex<Option<(PathBuf, SystemTime, Vec<String>)>>,
}

/// Parses an os-release file (shell-like `KEY=value` lines; double-quoted values take
/// backslash escapes, single-quoted ones are literal; `#` comments) into key/value pairs.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, val) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: no '=' in {raw:?}", i + 1))?;
        let key = key.trim();
        let valid_key = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_key {
            return Err(format!("line {}: bad key {key:?}", i + 1));
        }
        out.push((
            key.to_string(),
            value(val.trim()).map_err(|m| format!("line {}: {m}", i + 1))?,
        ));
    }
    Ok(out)
}

/// One value: quoted or bare, with what may follow the closing quote (space, a comment).
fn value(v: &str) -> Result<String, String> {
    let mut chars = v.chars();
    let (s, rest) = match chars.next() {
        Some('"') => {
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => return Err("unterminated double quote".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('\\' | '"' | '$' | '`')) => s.push(c),
                        Some('n') => s.push('\n'),
                        Some(c) => {
                            s.push('\\');
                            s.push(c);
                        }
                        None => return Err("unterminated double quote".into()),
                    },
                    Some(c) => s.push(c),
                }
            }
            (s, chars.as_str())
        }
        Some('\'') => {
            let body = chars.as_str();
            let end = body.find('\'').ok_or("unterminated single quote")?;
            (body[..end].to_string(), &body[end + 1..])
        }
        _ => {
            let end = v.find(" #").unwrap_or(v.len());
            return Ok(v[..end].trim().to_string());
        }
    };
    let rest = rest.trim_start();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(format!("text after the closing quote: {rest:?}"));
    }
    Ok(s)
}

/// The major.minor part of VERSION_ID (`^[0-9]+\.?[0-9]*`) as a number; 0 when it has none.
pub fn major_minor(version_id: &str) -> f64 {
    let int_end = version_id
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(version_id.len());
    if int_end == 0 {
        return 0.0;
    }
    let mut end = int_end;
    if version_id[end..].starts_with('.') {
        end += 1;
        end += version_id[end..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(version_id.len() - end);
    }
    version_id[..end].parse().unwrap_or(0.0)
}

impl Os {
    /// The label values (KEYS order) of the first file that exists, cached by path and mtime.
    fn values(&self) -> Result<Vec<String>, Error> {
        let found = self
            .files
            .iter()
            .find_map(|p| std::fs::metadata(p).ok().map(|m| (p, m)));
        let Some((path, meta)) = found else {
            return Err(Error::NoData("no os-release file".into()));
        };
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((p, t, v)) = cache.as_ref() {
            if p == path && *t == mtime {
                return Ok(v.clone());
            }
        }
        if meta.len() > MAX_LEN {
            return Err(parse_error(path, "file too large"));
        }
        let text = super::read(path)?;
        let pairs = parse(&text).map_err(|m| parse_error(path, &m))?;
        let vals: Vec<String> = KEYS
            .iter()
            .map(|(k, _)| {
                // The last assignment wins, as in a shell.
                pairs
                    .iter()
                    .rev()
                    .find(|(pk, _)| pk == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
            .collect();
        *cache = Some((path.clone(), mtime, vals.clone()));
        Ok(vals)
    }
}

fn parse_error(path: &Path, msg: &str) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    }
}

impl Collector for Os {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let vals = self.values()?;
        let labels: Vec<(&str, &str)> = KEYS
            .iter()
            .zip(&vals)
            .map(|((_, l), v)| (*l, v.as_str()))
            .collect();
        enc.family(
            "node_os_info",
            "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
            MetricType::Gauge,
        )
        .sample(&labels, 1.0);
        let version = major_minor(&vals[11]);
        if version > 0.0 {
            enc.family(
                "node_os_version",
                "Metric containing the major.minor part of the OS version.",
                MetricType::Gauge,
            )
            .sample(
                &[("id", &vals[1]), ("id_like", &vals[2]), ("name", &vals[5])],
                version,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured on the build machine (Debian 12): `cat /usr/lib/os-release`.
    const DEBIAN_12: &str = include_str!("../../tests/fixtures/server/rootfs/usr/lib/os-release");

    #[test]
    fn os_release_debian_12() {
        let p = parse(DEBIAN_12).unwrap();
        assert!(p.contains(&(
            "PRETTY_NAME".into(),
            "Debian GNU/Linux 12 (bookworm)".into()
        )));
        assert!(p.contains(&("VERSION_CODENAME".into(), "bookworm".into())));
        assert!(p.contains(&("ID".into(), "debian".into())));
    }

    #[test]
    fn os_release_quoting() {
        let p = parse("# c\nA='x \"y\"'\nB=\"a\\\"b\\$c\" # note\nexport C=plain\n\nD=\n").unwrap();
        assert_eq!(p[0].1, "x \"y\"");
        assert_eq!(p[1].1, "a\"b$c");
        assert_eq!(p[2], ("C".into(), "plain".into()));
        assert_eq!(p[3].1, "");
        assert!(parse("A=\"open\n").is_err());
        assert!(parse("no equals\n").is_err());
        assert!(parse("1A=x\n").is_err());
        assert!(parse("A=\"x\" y\n").is_err());
    }

    #[test]
    fn version_major_minor() {
        assert_eq!(major_minor("12"), 12.0);
        assert_eq!(major_minor("22.04"), 22.04);
        assert_eq!(major_minor("8.6.2"), 8.6);
        assert_eq!(major_minor("3."), 3.0);
        assert_eq!(major_minor("rolling"), 0.0);
        assert_eq!(major_minor(""), 0.0);
    }

    #[test]
    fn etc_first_then_usr_lib_then_no_data() {
        let root = std::env::temp_dir().join(format!("promlet-os-{}", std::process::id()));
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let paths = Paths {
            procfs: "/nonexistent".into(),
            sysfs: "/nonexistent".into(),
            rootfs: root.clone(),
        };
        let flags = Flags::parse("t", vec![], Vec::<String>::new()).unwrap();
        let c = new(&paths, &flags).unwrap();
        let run = || {
            let mut enc = Encoder::new();
            c.update(&mut enc)
                .map(|_| String::from_utf8(enc.into_bytes()).unwrap())
        };
        assert!(matches!(run(), Err(Error::NoData(_))));
        std::fs::write(
            root.join("usr/lib/os-release"),
            "ID=ubuntu\nVERSION_ID=\"22.04\"\n",
        )
        .unwrap();
        let out = run().unwrap();
        assert!(
            out.contains("node_os_version{id=\"ubuntu\",id_like=\"\",name=\"\"} 22.04\n"),
            "{out}"
        );
        std::fs::write(root.join("etc/os-release"), "ID=alpine\nVERSION_ID=edge\n").unwrap();
        let out = run().unwrap();
        assert!(out.contains("id=\"alpine\""), "{out}");
        assert!(
            !out.contains("node_os_version"),
            "no number in VERSION_ID: {out}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
