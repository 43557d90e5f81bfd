//! Reading configuration files (`--config.file`, `--web.config.file`): YAML when built with
//! the `yaml` feature, JSON otherwise (JSON is the YAML subset a build without YAML still reads).
//! Every error names the file and, where known, the line, because a config error stops promlet
//! at start and the user has to find it.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Reads and deserializes `path`; errors are `file:line:column: reason`.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<(T, String), String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{}: read: {e}", path.display()))?;
    let v = parse(path, &text)?;
    Ok((v, text))
}

/// Deserializes `text` (read from `path`, for messages).
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, String> {
    #[cfg(feature = "yaml")]
    {
        serde_yaml::from_str(text).map_err(|e| match e.location() {
            Some(l) => format!(
                "{}:{}:{}: {}",
                path.display(),
                l.line(),
                l.column(),
                strip_location(&e.to_string())
            ),
            None => format!("{}: {e}", path.display()),
        })
    }
    #[cfg(not(feature = "yaml"))]
    {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "{}:{}:{}: {} (this build reads JSON only: it has no yaml feature)",
                path.display(),
                e.line(),
                e.column(),
                strip_location(&e.to_string())
            )
        })
    }
}

/// serde_yaml and serde_json append " at line X column Y"; the prefix already says it.
fn strip_location(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

/// The 1-based line where `key: value` (YAML) or `"key": "value"` (JSON) occurs for the
/// `nth` time (0-based), for errors found after deserializing. `value` None matches any value.
pub fn line_of(text: &str, key: &str, value: Option<&str>, nth: usize) -> Option<usize> {
    let mut seen = 0;
    for (i, line) in text.lines().enumerate() {
        // The key may start the line or follow `{` / `,` in flow style (`labels: {a: b}`).
        let starts = std::iter::once(0).chain(line.match_indices(['{', ',']).map(|(j, _)| j + 1));
        let hit = starts.into_iter().any(|j| key_at(&line[j..], key, value));
        if hit {
            if seen == nth {
                return Some(i + 1);
            }
            seen += 1;
        }
    }
    None
}

fn key_at(t: &str, key: &str, value: Option<&str>) -> bool {
    {
        let t = t.trim_start().trim_start_matches(['-', ' ', '{', ',']);
        let rest = t
            .strip_prefix(key)
            .or_else(|| {
                t.strip_prefix('"')
                    .and_then(|r| r.strip_prefix(key))
                    .and_then(|r| r.strip_prefix('"'))
            })
            .or_else(|| {
                t.strip_prefix('\'')
                    .and_then(|r| r.strip_prefix(key))
                    .and_then(|r| r.strip_prefix('\''))
            });
        let Some(rest) = rest.and_then(|r| r.trim_start().strip_prefix(':')) else {
            return false;
        };
        match value {
            None => true,
            Some(v) => {
                let r = rest.trim();
                let r = r.split(" #").next().unwrap_or(r).trim();
                let r = r.split([',', '}']).next().unwrap_or(r).trim();
                r.trim_matches(['"', '\'']) == v
            }
        }
    }
}

/// `p` as given when absolute, else under `base` (the folder of the file that named it), as
/// exporter-toolkit and Prometheus take the paths in their files.
pub fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// `file:line: msg`, or `file: msg` when the line is unknown.
pub fn at(path: &Path, line: Option<usize>, msg: &str) -> String {
    match line {
        Some(l) => format!("{}:{l}: {msg}", path.display()),
        None => format!("{}: {msg}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_key_lines_in_yaml_and_json() {
        let y = "proxy:\n  - path: /a\n    exporters:\n      - name: x\n      - name: x\n";
        assert_eq!(line_of(y, "name", Some("x"), 1), Some(5));
        assert_eq!(line_of(y, "path", Some("/a"), 0), Some(2));
        let j = "{\"proxy\": [\n {\"path\": \"/a\",\n  \"exporters\": []}]}";
        assert_eq!(line_of(j, "path", Some("/a"), 0), Some(2));
        let f = "a:\n  labels: {site: r1, exporter_name: b}\n";
        assert_eq!(line_of(f, "exporter_name", Some("b"), 0), Some(2));
    }
}
