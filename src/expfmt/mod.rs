//! The Prometheus text exposition format, version 0.0.4: the one place promlet writes it
//! (and, for the proxy and the textfile collector, reads it).
//!
//! Format: <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>.
//! Rules kept here and nowhere else: `# HELP` and `# TYPE` once per family, before its samples;
//! label values escape `\`, `"` and newline; HELP text escapes `\` and newline; the special
//! values are written `+Inf`, `-Inf` and `NaN`.

mod decoded;
mod encode;
mod parse;

#[cfg(feature = "proxy")]
pub use decoded::DecodedFamily;
#[cfg(any(feature = "proxy", feature = "push"))]
pub use decoded::{decode_text, Decoded, DecodedSample};
#[cfg(feature = "proxy")]
pub use encode::{label_pair, write_labels, write_sample_end, Label};
pub use encode::{Encoder, MetricType};
#[cfg(any(feature = "node", all(test, feature = "proxy")))]
pub use parse::MetricFamily;
#[cfg(feature = "proxy")]
pub use parse::{parse, Format};
pub use parse::{parse_openmetrics, parse_text, write_families};

/// `Content-Type` of everything [`Encoder`] writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// True if `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

#[cfg(any(
    feature = "proxy",
    feature = "push",
    feature = "http-sd",
    all(test, feature = "packet-sd")
))]
/// True if `name` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}
