//! Streaming encoder for the text format. Families are written whole, one after another,
//! into a caller-owned buffer that is reused between scrapes.

use std::collections::HashSet;

/// The `# TYPE` of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
        }
    }

    pub fn parse(s: &str) -> Option<MetricType> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" | "unknown" => MetricType::Untyped,
            _ => return None,
        })
    }
}

/// Writes families into `buf`. A family name may be written only once per exposition;
/// a second [`Encoder::family`] call with the same name returns a family that discards its
/// samples (and [`Encoder::duplicates`] counts it), so the output always stays valid.
#[derive(Default)]
pub struct Encoder {
    buf: Vec<u8>,
    seen: HashSet<String>,
    order: Vec<String>,
    duplicates: usize,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Starts a new exposition in `buf` (emptied first), for a caller that hands the text out
    /// with [`Encoder::take_bytes`] afterwards: the buffer goes out as the answer's body
    /// rather than being copied into one. The family-name sets keep their capacity.
    pub fn start_in(&mut self, mut buf: Vec<u8>) {
        self.seen.clear();
        self.order.clear();
        self.duplicates = 0;
        buf.clear();
        self.buf = buf;
    }

    /// The text written so far, taken out; the encoder is left with an empty buffer.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    #[cfg(any(feature = "hdhomerun", feature = "packet-sd", feature = "proxy", test))]
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Families dropped because their name was already written.
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// True if a family of this name was already written.
    #[cfg(feature = "node")]
    pub fn has_family(&self, name: &str) -> bool {
        self.seen.contains(name)
    }

    #[cfg(any(feature = "node", feature = "proxy"))]
    /// A point to go back to with [`Encoder::rollback`] (to drop the partial output of a
    /// collector that failed half way).
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            len: self.buf.len(),
            families: self.order.len(),
        }
    }

    #[cfg(any(feature = "node", feature = "proxy"))]
    /// Drops everything written since `cp`. Family names registered since then are forgotten
    /// too, so they may be written again.
    pub fn rollback(&mut self, cp: Checkpoint) {
        self.buf.truncate(cp.len);
        for n in self.order.drain(cp.families..) {
            self.seen.remove(&n);
        }
    }

    /// Writes `# HELP` and `# TYPE` for `name` and returns a handle to add its samples.
    pub fn family<'a>(&'a mut self, name: &str, help: &str, typ: MetricType) -> Family<'a> {
        if self.seen.contains(name) {
            self.duplicates += 1;
            return Family {
                enc: self,
                name_len: 0,
                skip: true,
                name_start: 0,
            };
        }
        self.seen.insert(name.to_string());
        self.order.push(name.to_string());
        // HELP is optional in the format; client libraries omit it when there is none.
        if !help.is_empty() {
            self.buf.extend_from_slice(b"# HELP ");
            self.buf.extend_from_slice(name.as_bytes());
            self.buf.push(b' ');
            escape_help(&mut self.buf, help);
            self.buf.push(b'\n');
        }
        self.buf.extend_from_slice(b"# TYPE ");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b' ');
        self.buf.extend_from_slice(typ.as_str().as_bytes());
        self.buf.push(b'\n');
        // Remember where the name sits so samples can copy it without another allocation.
        let name_start = self.buf.len() - typ.as_str().len() - 2 - name.len();
        Family {
            enc: self,
            name_len: name.len(),
            skip: false,
            name_start,
        }
    }

    /// One-line convenience for a family with one unlabelled sample.
    pub fn single(&mut self, name: &str, help: &str, typ: MetricType, value: f64) {
        self.family(name, help, typ).sample(&[], value);
    }
}

/// Opaque position in an [`Encoder`]'s output.
#[cfg(any(feature = "node", feature = "proxy"))]
#[derive(Clone, Copy, Debug)]
pub struct Checkpoint {
    len: usize,
    families: usize,
}

/// Samples of one family. Labels are given as `(name, value)` pairs; names are trusted
/// (they come from code or were validated by a parser), values are escaped here.
pub struct Family<'a> {
    enc: &'a mut Encoder,
    name_start: usize,
    name_len: usize,
    skip: bool,
}

impl Family<'_> {
    /// A sample named like the family.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.write("", labels, value, None)
    }

    #[cfg(any(feature = "http-sd", feature = "packet-sd"))]
    /// A sample whose name is the family name plus `suffix` (`_bucket`, `_sum`, `_count`).
    pub fn sample_suffix(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) -> &mut Self {
        self.write(suffix, labels, value, None)
    }

    /// The general form: optional suffix, labels and a timestamp in milliseconds.
    pub fn write(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: f64,
        timestamp_ms: Option<i64>,
    ) -> &mut Self {
        if self.skip {
            return self;
        }
        let buf = &mut self.enc.buf;
        buf.extend_from_within(self.name_start..self.name_start + self.name_len);
        buf.extend_from_slice(suffix.as_bytes());
        write_labels(buf, labels.iter().map(|(k, v)| Label::Escape(k, v)));
        write_sample_end(buf, None, value, timestamp_ms);
        self
    }
}

#[cfg(feature = "proxy")]
impl Family<'_> {
    /// The output buffer, for the proxy's merge, which writes whole sample lines of this
    /// family itself (from pieces of upstream bodies that are already escaped); None when
    /// the family is discarded (its name was already written). Only complete lines of this
    /// family may be appended.
    pub fn raw_buffer(&mut self) -> Option<&mut Vec<u8>> {
        (!self.skip).then_some(&mut self.enc.buf)
    }
}

/// One label of a sample line, as [`write_labels`] gets it.
#[derive(Clone, Copy)]
pub enum Label<'a> {
    /// `name`, `value` to escape.
    Escape(&'a str, &'a str),
    /// `name`, a value with nothing to escape (a piece of a body as received).
    #[cfg(feature = "proxy")]
    Verbatim(&'a str, &'a str),
    /// The whole `name="value"`, already valid (from [`label_pair`] or a body).
    #[cfg(feature = "proxy")]
    Pair(&'a str),
}

/// Appends `{a="x",b="y"}`, or nothing when there are no labels: the one place the label
/// syntax is written.
pub fn write_labels<'a>(buf: &mut Vec<u8>, labels: impl Iterator<Item = Label<'a>>) {
    let start = buf.len();
    for l in labels {
        buf.push(if buf.len() == start { b'{' } else { b',' });
        match l {
            Label::Escape(k, v) => {
                buf.extend_from_slice(k.as_bytes());
                buf.extend_from_slice(b"=\"");
                escape_label_value(buf, v);
                buf.push(b'"');
            }
            #[cfg(feature = "proxy")]
            Label::Verbatim(k, v) => {
                buf.extend_from_slice(k.as_bytes());
                buf.extend_from_slice(b"=\"");
                buf.extend_from_slice(v.as_bytes());
                buf.push(b'"');
            }
            #[cfg(feature = "proxy")]
            Label::Pair(p) => buf.extend_from_slice(p.as_bytes()),
        }
    }
    if buf.len() != start {
        buf.push(b'}');
    }
}

/// `name="value"` with the value escaped, for [`Label::Pair`].
#[cfg(feature = "proxy")]
pub fn label_pair(name: &str, value: &str) -> String {
    let mut out = Vec::with_capacity(name.len() + value.len() + 3);
    write_labels(&mut out, std::iter::once(Label::Escape(name, value)));
    // Without the braces; the bytes are UTF-8 (names and values are).
    String::from_utf8_lossy(&out[1..out.len() - 1]).into_owned()
}

/// Appends ` value[ timestamp]` and the newline that end a sample line. `text` is the
/// value's text when it is already what [`write_value`] would write.
pub fn write_sample_end(
    buf: &mut Vec<u8>,
    text: Option<&str>,
    value: f64,
    timestamp_ms: Option<i64>,
) {
    buf.push(b' ');
    match text {
        Some(t) => buf.extend_from_slice(t.as_bytes()),
        None => write_value(buf, value),
    }
    if let Some(ts) = timestamp_ms {
        buf.push(b' ');
        let _ = std::io::Write::write_fmt(buf, format_args!("{ts}"));
    }
    buf.push(b'\n');
}

/// Appends a sample value: Go-compatible spellings for the special values, the shortest
/// round-tripping decimal otherwise.
pub fn write_value(buf: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        buf.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        buf.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v == v.trunc() && v.abs() < 1e15 {
        // Integral values print without a fraction ("42", not "42.0"), as client libraries do.
        // Digits straight into the buffer: most samples are integers, and this is the hot path.
        if v.is_sign_negative() {
            buf.push(b'-');
        }
        let mut n = v.abs() as u64;
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        buf.extend_from_slice(&digits[i..]);
    } else if (1e-4..1e15).contains(&v.abs()) {
        // Plain decimal is easier to read for ordinary magnitudes.
        let _ = std::io::Write::write_fmt(buf, format_args!("{v}"));
    } else {
        // Rust writes "1.5e-7".
        let _ = std::io::Write::write_fmt(buf, format_args!("{v:e}"));
    }
}

/// Appends `v` with the bytes in `special` replaced by their escapes, copying the runs in
/// between whole.
fn escape_into(buf: &mut Vec<u8>, v: &str, quote: bool) {
    let b = v.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quote => b"\\\"",
            _ => continue,
        };
        buf.extend_from_slice(&b[start..i]);
        buf.extend_from_slice(esc);
        start = i + 1;
    }
    buf.extend_from_slice(&b[start..]);
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label_value(buf: &mut Vec<u8>, v: &str) {
    escape_into(buf, v, true);
}

/// Escapes HELP text: backslash and newline.
pub fn escape_help(buf: &mut Vec<u8>, v: &str) {
    escape_into(buf, v, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(e: &Encoder) -> &str {
        std::str::from_utf8(e.as_bytes()).unwrap()
    }

    #[test]
    fn writes_help_and_type_once_per_family() {
        let mut e = Encoder::new();
        e.family("a_total", "Help with \\ and\nnewline.", MetricType::Counter)
            .sample(&[("x", "1")], 1.0)
            .sample(&[("x", "2")], 2.5);
        e.family("a_total", "again", MetricType::Gauge)
            .sample(&[], 3.0);
        assert_eq!(
            text(&e),
            "# HELP a_total Help with \\\\ and\\nnewline.\n# TYPE a_total counter\n\
             a_total{x=\"1\"} 1\na_total{x=\"2\"} 2.5\n"
        );
        assert_eq!(e.duplicates(), 1);
    }

    #[test]
    fn escapes_label_values() {
        let mut e = Encoder::new();
        e.family("m", "h", MetricType::Gauge)
            .sample(&[("l", "a\"b\\c\nd")], 1.0);
        assert!(text(&e).contains("m{l=\"a\\\"b\\\\c\\nd\"} 1\n"));
    }

    #[test]
    fn special_values_and_floats() {
        let cases: &[(f64, &str)] = &[
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (0.0, "0"),
            (-3.0, "-3"),
            (0.25, "0.25"),
            (1.5e-7, "1.5e-7"),
            (1e20, "1e20"),
            (123456.789, "123456.789"),
            (1700000000.123, "1700000000.123"),
        ];
        for (v, want) in cases {
            let mut b = Vec::new();
            write_value(&mut b, *v);
            assert_eq!(std::str::from_utf8(&b).unwrap(), *want, "{v}");
            if !v.is_nan() {
                let back: f64 = match *want {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    w => w.parse().unwrap(),
                };
                assert_eq!(back, *v);
            }
        }
    }

    #[cfg(any(feature = "http-sd", feature = "packet-sd"))]
    #[test]
    fn suffix_and_timestamp() {
        let mut e = Encoder::new();
        e.family("h", "h", MetricType::Histogram)
            .sample_suffix("_bucket", &[("le", "+Inf")], 3.0)
            .write("_count", &[], 3.0, Some(1700000000000));
        assert!(text(&e).ends_with("h_bucket{le=\"+Inf\"} 3\nh_count 3 1700000000000\n"));
    }

    #[cfg(any(feature = "node", feature = "proxy"))]
    #[test]
    fn rollback_forgets_partial_output() {
        let mut e = Encoder::new();
        e.single("keep", "k", MetricType::Gauge, 1.0);
        let cp = e.checkpoint();
        e.single("drop", "d", MetricType::Gauge, 2.0);
        e.rollback(cp);
        assert!(!text(&e).contains("drop"));
        e.single("drop", "d", MetricType::Gauge, 3.0);
        assert!(text(&e).contains("drop 3\n"));
    }
}
