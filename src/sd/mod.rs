//! Target groups in Prometheus's service discovery file format, shared by the Packet refresher
//! (file_sd) and the HTTP SD server (http_sd): `[{"targets": [...], "labels": {...}}]`.
//! <https://prometheus.io/docs/prometheus/latest/http_sd/>

use std::collections::BTreeMap;

#[cfg(feature = "http-sd")]
pub mod http;
#[cfg(feature = "packet-sd")]
pub mod packet;

/// One target group. Labels are kept sorted so output is deterministic.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

// http_sd checks the groups generators write; Packet SD's tests check the groups it builds.
#[cfg(any(feature = "http-sd", test))]
impl TargetGroup {
    /// Checks what Prometheus checks: label names valid, label values and targets UTF-8 (given by
    /// the type). `__`-prefixed names are allowed (they are meta labels).
    pub fn validate(&self) -> Result<(), String> {
        for k in self.labels.keys() {
            if !crate::expfmt::is_label_name(k) {
                return Err(format!("invalid label name {k:?}"));
            }
        }
        for t in &self.targets {
            if t.is_empty() {
                return Err("empty target".into());
            }
        }
        Ok(())
    }
}

/// Serializes groups as the JSON array http_sd answers with (Packet SD streams its file_sd
/// output instead, `packet::model`).
#[cfg(feature = "http-sd")]
pub fn to_json(groups: &[TargetGroup]) -> String {
    serde_json::to_string(groups).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_label_names() {
        let mut g = TargetGroup {
            targets: vec!["a:1".into()],
            labels: BTreeMap::new(),
        };
        g.labels.insert("__meta_x".into(), "v".into());
        assert!(g.validate().is_ok());
        g.labels.insert("bad-name".into(), "v".into());
        assert!(g.validate().is_err());
    }

    #[cfg(feature = "http-sd")]
    #[test]
    fn json_shape() {
        let g = TargetGroup {
            targets: vec!["a:1".into()],
            labels: [("job".to_string(), "x".to_string())].into(),
        };
        assert_eq!(
            to_json(&[g]),
            r#"[{"targets":["a:1"],"labels":{"job":"x"}}]"#
        );
    }
}
