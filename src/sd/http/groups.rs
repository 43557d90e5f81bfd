//! Reading and checking what a generator produced: a JSON (or YAML) array of target groups,
//! held to what Prometheus's http_sd client accepts (`discovery/http/http.go`: unknown keys
//! and `null` items are rejected, labels are string to string) plus valid label names, so a
//! bad generator fails here with its file named instead of failing inside Prometheus.
//! <https://prometheus.io/docs/prometheus/latest/http_sd/>

use std::collections::BTreeMap;

use super::Error;
use crate::sd::TargetGroup;

/// The strict shape of one group; converted to the shared [`TargetGroup`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictGroup {
    targets: Vec<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// A generator's validated output, already serialized for splicing into a response.
#[derive(Debug, Default)]
pub struct Fragment {
    /// The groups as JSON objects joined by commas, without the enclosing brackets.
    pub json: String,
    pub targets: usize,
}

impl Fragment {
    pub fn new(groups: &[TargetGroup]) -> Fragment {
        let all = crate::sd::to_json(groups);
        // to_json writes `[...]`; keep the inside so fragments concatenate with commas.
        let inner = all
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or("");
        Fragment {
            json: inner.to_string(),
            targets: groups.iter().map(|g| g.targets.len()).sum(),
        }
    }
}

/// Parses a JSON array of target groups and validates every group.
pub fn parse_json(bytes: &[u8]) -> Result<Vec<TargetGroup>, Error> {
    let raw: Vec<StrictGroup> =
        serde_json::from_slice(bytes).map_err(|e| Error::Parse(e.to_string()))?;
    finish(raw)
}

/// Parses a YAML list of target groups (anchors, aliases and `<<` merge keys resolved) and
/// validates every group. serde_yaml builds plain data only: tags never construct objects.
#[cfg(feature = "yaml")]
pub fn parse_yaml(bytes: &[u8]) -> Result<Vec<TargetGroup>, Error> {
    let mut v: serde_yaml::Value =
        serde_yaml::from_slice(bytes).map_err(|e| Error::Parse(e.to_string()))?;
    v.apply_merge().map_err(|e| Error::Parse(e.to_string()))?;
    let raw: Vec<StrictGroup> =
        serde_yaml::from_value(v).map_err(|e| Error::Parse(e.to_string()))?;
    finish(raw)
}

#[cfg(not(feature = "yaml"))]
pub fn parse_yaml(_bytes: &[u8]) -> Result<Vec<TargetGroup>, Error> {
    Err(Error::NoYaml)
}

fn finish(raw: Vec<StrictGroup>) -> Result<Vec<TargetGroup>, Error> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, g) in raw.into_iter().enumerate() {
        let g = TargetGroup {
            targets: g.targets,
            labels: g.labels.unwrap_or_default(),
        };
        g.validate()
            .map_err(|m| Error::Invalid(format!("group {i}: {m}")))?;
        out.push(g);
    }
    Ok(out)
}

/// Targets without a `:port`: Prometheus 2.x adds the scheme's default port, 3.x does not, so
/// `check` warns about them.
pub fn targets_without_port(groups: &[TargetGroup]) -> Vec<&str> {
    groups
        .iter()
        .flat_map(|g| g.targets.iter())
        .filter(|t| {
            // `[v6]:port`, `host:port`; a bare IPv6 address has colons but no port.
            match t.rsplit_once(':') {
                Some((host, port)) => {
                    port.is_empty()
                        || !port.bytes().all(|b| b.is_ascii_digit())
                        || (host.contains(':') && !host.ends_with(']'))
                }
                None => true,
            }
        })
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_prometheus_shape() {
        let g = parse_json(br#"[{"targets":["a:1","b:2"],"labels":{"job":"x"}},{"targets":[]}]"#)
            .unwrap();
        assert_eq!(g.len(), 2);
        let f = Fragment::new(&g);
        assert_eq!(
            f.json,
            r#"{"targets":["a:1","b:2"],"labels":{"job":"x"}},{"targets":[],"labels":{}}"#
        );
        assert_eq!(f.targets, 2);
    }

    #[test]
    fn rejects_what_prometheus_rejects() {
        for bad in [
            &br#"{"targets":["a:1"]}"#[..],
            br#"[null]"#,
            br#"[{"targets":[1]}]"#,
            br#"[{"targets":"a:1"}]"#,
            br#"[{"labels":{"a":"b"}}]"#,
            br#"[{"targets":["a:1"],"labels":{"a":1}}]"#,
            br#"[{"targets":["a:1"],"labels":{"bad-name":"x"}}]"#,
            br#"[{"targets":["a:1"],"extra":true}]"#,
            br#"[{"targets":[""]}]"#,
            b"",
            b"null",
        ] {
            assert!(
                parse_json(bad).is_err(),
                "accepted {}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[cfg(feature = "yaml")]
    #[test]
    fn yaml_anchors_and_merge_keys() {
        let y = b"- targets: ['a:1']\n  labels: &common\n    env: prod\n    team: sre\n- targets: ['b:2']\n  labels:\n    <<: *common\n    team: db\n- targets: ['c:3']\n  labels: *common\n";
        let g = parse_yaml(y).unwrap();
        assert_eq!(g[1].labels["env"], "prod");
        assert_eq!(g[1].labels["team"], "db");
        assert_eq!(g[2].labels["team"], "sre");
    }

    #[test]
    fn missing_ports() {
        let g = parse_json(br#"[{"targets":["a:1","b","[::1]:9","::1","c:"]}]"#).unwrap();
        assert_eq!(targets_without_port(&g), vec!["b", "::1", "c:"]);
    }
}
