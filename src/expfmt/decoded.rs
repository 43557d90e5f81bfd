//! The proxy's decoding of the 0.0.4 text format: the same grammar and checks as
//! [`parse_text`](super::parse_text) (one parser's rules, asserted equal by the tests below),
//! but the result keeps the body and refers into it by offsets instead of copying every name,
//! label and value into its own `String`. A scrape that merges 10,000 series otherwise spends
//! most of its time allocating and freeing those strings.
//!
//! Only label values and HELP text that contained escapes are unescaped, into a tail appended
//! to the body; everything else is a [`Span`] of the body as received. Offsets are `u32`: bodies
//! are limited to 64 MiB long before this (`proxy::http::MAX_BODY`), and [`decode_text`]
//! refuses anything that would not fit.

use std::collections::HashMap;

use super::encode::MetricType;
use super::parse::{parse_float, split_token, truncate, unescape, MetricFamily, ParseError, CRLF};
use super::{is_label_name, is_metric_name};

/// A piece of a [`Decoded`]'s text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    start: u32,
    end: u32,
}

/// One sample: `name` is the full sample name (family name plus any suffix).
#[derive(Clone, Debug)]
pub struct DecodedSample {
    pub name: Span,
    /// Range of this sample's pairs in [`Decoded::labels`].
    labels: (u32, u32),
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// A metric family of a [`Decoded`] exposition.
#[derive(Clone, Debug)]
pub struct DecodedFamily {
    pub name: Span,
    pub help: Option<Span>,
    pub typ: MetricType,
    pub samples: Vec<DecodedSample>,
}

/// A decoded exposition: families in first-seen order, as [`parse_text`](super::parse_text)
/// returns them, with strings as spans of `text`.
#[derive(Debug, Default)]
pub struct Decoded {
    text: String,
    pub families: Vec<DecodedFamily>,
    /// Every sample's (label name, unescaped label value), one sample after the other.
    labels: Vec<(Span, Span)>,
}

impl Decoded {
    /// The text of a span.
    pub fn str(&self, s: Span) -> &str {
        &self.text[s.start as usize..s.end as usize]
    }

    /// The (name, value) pairs of a sample, as spans.
    pub fn labels(&self, s: &DecodedSample) -> &[(Span, Span)] {
        &self.labels[s.labels.0 as usize..s.labels.1 as usize]
    }

    /// The same model built from owned families (the OpenMetrics path, which converts names
    /// and so has no body to point into).
    pub fn from_families(fams: &[MetricFamily]) -> Decoded {
        let mut d = Decoded::default();
        fn push(text: &mut String, s: &str) -> Span {
            let start = text.len() as u32;
            text.push_str(s);
            Span {
                start,
                end: text.len() as u32,
            }
        }
        for f in fams {
            let name = push(&mut d.text, &f.name);
            let help = f.help.as_deref().map(|h| push(&mut d.text, h));
            let mut samples = Vec::with_capacity(f.samples.len());
            for s in &f.samples {
                let sname = if s.name == f.name {
                    name
                } else {
                    push(&mut d.text, &s.name)
                };
                let first = d.labels.len() as u32;
                for (k, v) in &s.labels {
                    let k = push(&mut d.text, k);
                    let v = push(&mut d.text, v);
                    d.labels.push((k, v));
                }
                samples.push(DecodedSample {
                    name: sname,
                    labels: (first, d.labels.len() as u32),
                    value: s.value,
                    timestamp_ms: s.timestamp_ms,
                });
            }
            d.families.push(DecodedFamily {
                name,
                help,
                typ: f.typ,
                samples,
            });
        }
        d
    }
}

/// Decodes the 0.0.4 text format (see [`parse_text`](super::parse_text) for the rules and
/// errors, which are the same).
pub fn decode_text(mut text: String) -> Result<Decoded, ParseError> {
    // Unescaped strings go after the body, so they may take up to as much again.
    if text.len() > (u32::MAX / 2) as usize {
        return Err(ParseError {
            line: 1,
            msg: "body too large".into(),
        });
    }
    let (families, labels, extra) = decode_inner(&text)?;
    text.push_str(&extra);
    Ok(Decoded {
        text,
        families,
        labels,
    })
}

/// Strings produced while decoding (unescaped values), appended to the body afterwards.
struct Extra {
    base: usize,
    text: String,
}

impl Extra {
    fn push(&mut self, s: &str) -> Span {
        let start = (self.base + self.text.len()) as u32;
        self.text.push_str(s);
        Span {
            start,
            end: (self.base + self.text.len()) as u32,
        }
    }

    /// A span's text, whether in the body or here.
    fn resolve<'a>(&'a self, input: &'a str, s: Span) -> &'a str {
        let (a, b) = (s.start as usize, s.end as usize);
        if a >= self.base {
            &self.text[a - self.base..b - self.base]
        } else {
            &input[a..b]
        }
    }
}

/// The span of `part`, which must be a slice of `input`.
fn span_of(input: &str, part: &str) -> Span {
    let start = part.as_ptr() as usize - input.as_ptr() as usize;
    Span {
        start: start as u32,
        end: (start + part.len()) as u32,
    }
}

type Inner = (Vec<DecodedFamily>, Vec<(Span, Span)>, String);

/// The loop of `parse::parse_text`, line for line, producing spans.
fn decode_inner(input: &str) -> Result<Inner, ParseError> {
    let mut families: Vec<DecodedFamily> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut labels: Vec<(Span, Span)> = Vec::new();
    let mut extra = Extra {
        base: input.len(),
        text: String::new(),
    };
    let mut types: HashMap<&str, MetricType> = HashMap::new();
    let mut helps: HashMap<&str, ()> = HashMap::new();
    // As in parse_text: the last sample name's family index, type and family name length.
    let mut last: Option<(&str, usize, MetricType, usize)> = None;
    for (i, raw) in input.split('\n').enumerate() {
        let line_no = i + 1;
        let err = |msg: String| ParseError { line: line_no, msg };
        if raw.ends_with('\r') {
            return Err(err(CRLF.into()));
        }
        let line = raw.trim_start_matches([' ', '\t']);
        if line.trim_end_matches([' ', '\t']).is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start_matches([' ', '\t']);
            let (keyword, rest) = split_token(rest);
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            last = None;
            let (name, rest) = split_token(rest);
            if !is_metric_name(name) {
                return Err(err(format!(
                    "invalid metric name {name:?} in {keyword} line"
                )));
            }
            if keyword == "HELP" {
                if helps.insert(name, ()).is_some() {
                    return Err(err(format!("second HELP line for metric name {name:?}")));
                }
                let trimmed = rest.trim_end_matches([' ', '\t']);
                let help = if trimmed.contains('\\') {
                    extra.push(&unescape(rest, false).map_err(err)?)
                } else {
                    span_of(input, trimmed)
                };
                let typ = types.get(name).copied().unwrap_or(MetricType::Untyped);
                let idx = family_index(&mut families, &mut index, input, name, typ);
                families[idx].help = Some(help);
            } else {
                let t = rest.trim_end_matches([' ', '\t']);
                let typ = MetricType::parse(t)
                    .ok_or_else(|| err(format!("unknown metric type {t:?}")))?;
                let has_samples = index
                    .get(name)
                    .is_some_and(|&i| !families[i].samples.is_empty());
                if types.contains_key(name) || has_samples {
                    return Err(err(format!(
                        "second TYPE line for metric name {name:?}, or TYPE reported after samples"
                    )));
                }
                types.insert(name, typ);
                let idx = family_index(&mut families, &mut index, input, name, typ);
                families[idx].typ = typ;
            }
            continue;
        }
        let first = labels.len();
        let (name, value, rest) =
            decode_sample(input, line, &mut labels, &mut extra).map_err(err)?;
        let ts = match rest.trim_end_matches([' ', '\t']) {
            "" => None,
            t => Some(
                t.parse::<i64>()
                    .map_err(|_| err(format!("invalid timestamp {t:?}")))?,
            ),
        };
        let (idx, typ, family_len) = match last {
            Some((n, idx, typ, len)) if n == name => (idx, typ, len),
            _ => {
                let family = family_of(name, &types);
                let typ = types.get(family).copied().unwrap_or(MetricType::Untyped);
                let idx = family_index(&mut families, &mut index, input, family, typ);
                last = Some((name, idx, typ, family.len()));
                (idx, typ, family.len())
            }
        };
        check_suffix_labels(input, &extra, name, &labels[first..], typ, family_len).map_err(err)?;
        families[idx].samples.push(DecodedSample {
            name: span_of(input, name),
            labels: (first as u32, labels.len() as u32),
            value,
            timestamp_ms: ts,
        });
    }
    Ok((families, labels, extra.text))
}

/// Index of the family `name`, created (with `typ`) if new.
fn family_index<'a>(
    families: &mut Vec<DecodedFamily>,
    index: &mut HashMap<&'a str, usize>,
    input: &str,
    name: &'a str,
    typ: MetricType,
) -> usize {
    if let Some(&i) = index.get(name) {
        return i;
    }
    families.push(DecodedFamily {
        name: span_of(input, name),
        help: None,
        typ,
        samples: Vec::new(),
    });
    index.insert(name, families.len() - 1);
    families.len() - 1
}

/// As `parse::family_of_004`.
fn family_of<'a>(name: &'a str, types: &HashMap<&str, MetricType>) -> &'a str {
    for suffix in ["_bucket", "_count", "_sum"] {
        if let Some(base) = name.strip_suffix(suffix) {
            match types.get(base) {
                Some(MetricType::Histogram) => return base,
                Some(MetricType::Summary) if suffix != "_bucket" => return base,
                _ => {}
            }
        }
    }
    name
}

/// As `parse::check_suffix_labels`.
fn check_suffix_labels(
    input: &str,
    extra: &Extra,
    name: &str,
    labels: &[(Span, Span)],
    typ: MetricType,
    base_len: usize,
) -> Result<(), String> {
    let suffix = &name[base_len..];
    let need = match (typ, suffix) {
        (MetricType::Histogram, "_bucket") => "le",
        (MetricType::Summary, "") => "quantile",
        _ => return Ok(()),
    };
    let found = labels
        .iter()
        .find(|(k, _)| extra.resolve(input, *k) == need)
        .map(|(_, v)| extra.resolve(input, *v));
    match found {
        Some(v) if parse_float(v).is_some() => Ok(()),
        Some(v) => Err(format!("{need} label of {name} is not a number: {v:?}")),
        None => Err(format!("{name} has no {need} label")),
    }
}

/// `parse::parse_sample` for 0.0.4: pushes the labels, returns the name, the value and the
/// rest of the line after the value.
fn decode_sample<'a>(
    input: &str,
    line: &'a str,
    labels: &mut Vec<(Span, Span)>,
    extra: &mut Extra,
) -> Result<(&'a str, f64, &'a str), String> {
    let first = labels.len();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
        i += 1;
    }
    let name = &line[..i];
    if !is_metric_name(name) {
        return Err(format!("invalid metric name in line {:?}", truncate(line)));
    }
    let skip_blank = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    let after_name = i;
    skip_blank(&mut i);
    let has_labels = b.get(i) == Some(&b'{');
    if !has_labels {
        i = after_name;
    }
    if has_labels {
        i += 1;
        let mut unescaped = String::new();
        loop {
            skip_blank(&mut i);
            if b.get(i) == Some(&b'}') {
                i += 1;
                break;
            }
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let lname = &line[start..i];
            if !is_label_name(lname) {
                return Err(format!(
                    "invalid label name {:?} in {name}",
                    truncate(&line[start..])
                ));
            }
            skip_blank(&mut i);
            if b.get(i) != Some(&b'=') {
                return Err(format!("expected '=' after label name {lname:?} in {name}"));
            }
            i += 1;
            skip_blank(&mut i);
            if b.get(i) != Some(&b'"') {
                return Err(format!(
                    "expected '\"' to open the value of label {lname:?} in {name}"
                ));
            }
            i += 1;
            // Most values have no escape: they are the span up to the closing quote.
            let vstart = i;
            let mut escaped = false;
            loop {
                match b.get(i) {
                    None => return Err(format!("unterminated value of label {lname:?} in {name}")),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        if !escaped {
                            escaped = true;
                            unescaped.clear();
                            unescaped.push_str(&line[vstart..i]);
                        }
                        match b.get(i + 1) {
                            Some(b'\\') => unescaped.push('\\'),
                            Some(b'"') => unescaped.push('"'),
                            Some(b'n') => unescaped.push('\n'),
                            _ => {
                                return Err(format!(
                                    "invalid escape sequence in value of label {lname:?} in {name}"
                                ))
                            }
                        }
                        i += 2;
                    }
                    Some(_) => {
                        let run = line[i..].find(['"', '\\']).map_or(line.len(), |n| i + n);
                        if escaped {
                            unescaped.push_str(&line[i..run]);
                        }
                        i = run;
                    }
                }
            }
            let value = if escaped {
                extra.push(&unescaped)
            } else {
                span_of(input, &line[vstart..i - 1])
            };
            if labels[first..]
                .iter()
                .any(|(k, _)| &input[k.start as usize..k.end as usize] == lname)
            {
                return Err(format!("duplicate label name {lname:?} in {name}"));
            }
            labels.push((span_of(input, lname), value));
            skip_blank(&mut i);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {}
                _ => {
                    return Err(format!(
                        "expected ',' or '}}' after label {lname:?} in {name}"
                    ))
                }
            }
        }
    }
    if !matches!(b.get(i), Some(b' ') | Some(b'\t')) {
        return Err(match b.get(i) {
            None => format!("expected a value after {}", truncate(&line[..i])),
            Some(_) => format!("unexpected character after {}", truncate(&line[..i])),
        });
    }
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
        i += 1;
    }
    let vtext = &line[start..i];
    let value = parse_float(vtext).ok_or_else(|| format!("invalid value {vtext:?} for {name}"))?;
    let rest = line[i..].trim_start_matches([' ', '\t']);
    Ok((name, value, rest))
}

#[cfg(test)]
mod tests {
    use super::super::parse::{parse_text, Sample};
    use super::*;

    /// The decoded model turned back into owned families, to compare with `parse_text`.
    fn owned(d: &Decoded) -> Vec<MetricFamily> {
        d.families
            .iter()
            .map(|f| MetricFamily {
                name: d.str(f.name).to_string(),
                help: f.help.map(|h| d.str(h).to_string()),
                typ: f.typ,
                samples: f
                    .samples
                    .iter()
                    .map(|s| Sample {
                        name: d.str(s.name).to_string(),
                        labels: d
                            .labels(s)
                            .iter()
                            .map(|(k, v)| (d.str(*k).to_string(), d.str(*v).to_string()))
                            .collect(),
                        value: s.value,
                        timestamp_ms: s.timestamp_ms,
                    })
                    .collect(),
            })
            .collect()
    }

    /// NaN != NaN: make them comparable.
    fn without_nan(mut f: Vec<MetricFamily>) -> Vec<MetricFamily> {
        for s in f.iter_mut().flat_map(|f| f.samples.iter_mut()) {
            if s.value.is_nan() {
                s.value = 0.5;
            }
        }
        f
    }

    /// Same families, or the same error, as the owned parser; NaN compared by its bits.
    fn same_as_parse_text(text: &str) {
        let want = parse_text(text);
        let got = decode_text(text.to_string());
        match (want, got) {
            (Ok(w), Ok(g)) => {
                let g = without_nan(owned(&g));
                let back = without_nan(owned(&Decoded::from_families(&w)));
                let w = without_nan(w);
                assert_eq!(w, g, "{text:?}");
                assert_eq!(back, g, "{text:?}");
            }
            (Err(w), Err(g)) => assert_eq!(w, g, "{text:?}"),
            (w, g) => panic!(
                "{text:?}: parse_text {w:?}, decode_text {:?}",
                g.map(|_| ())
            ),
        }
    }

    #[test]
    fn agrees_with_parse_text() {
        let inputs = [
            "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n\
             # TYPE node_cpu_seconds_total counter\n\
             node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12345.67\n\
             node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 89.1\n# a comment\n\n\
             plain_untyped 1 1700000000000\n",
            "# HELP m Help with \\\\ backslash and \\n newline.  \n# TYPE m gauge\n\
             m{a=\"q\\\"uote\",b=\"back\\\\slash\",c=\"new\\nline\",d=\"Zürich 東京\"} 1\n\
             m{a=\"x\\\\\",b=\"\\\"y\\\"\",c=\"\"} 2\n",
            "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n\
             # TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 3\ns_count 4\nh_count_other 1\n",
            "# TYPE h histogram\nh_bucket 1\n",
            "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\\n\"} 1\n",
            "# TYPE s summary\ns 1\n",
            "a 1\nb 2\na{x=\"1\"} 3\n",
            "m{a=\"1\",} +Inf\nn -Inf\no NaN\np 1e-3\n",
            "  m  { a = \"1\" , b=\"2\"}\t3\t 17 \n\t\n",
            "m {} 1\n",
            "# HELP a x\n# TYPE a gauge\n# HELP b y\nb 1\na 2\n# TYPE c counter\nc 3\n",
            "#HELP a  spaced   help \n#\tTYPE a gauge\na 1\n",
            "# HELP x_total \n# TYPE x_total counter\nx_total 1\n",
            "ok 1\nbad{ 1\n",
            "m{a=\"x} 1\n",
            "m 1 notatimestamp\n",
            "m one\n",
            "# TYPE m bogus\n",
            "m 1\n# TYPE m gauge\n",
            "# TYPE m gauge\n# TYPE m gauge\n",
            "# HELP m a\n# HELP m b\n",
            "# HELP m a\\t\n",
            "m{a=\"\\t\"} 1\n",
            "m{a=\"1\",a=\"2\"} 1\n",
            "m{a=\"1\\\\\",a=\"2\"} 1\n",
            "9m 1\n",
            "m{1a=\"x\"} 1\n",
            "m\n",
            "m{a=\"1\"}1\n",
            "m{a=\"1\" b=\"2\"} 1\n",
            "m{a} 1\n",
            "m{a=1} 1\n",
            "# TYPE a gauge\r\na 1\r\n",
            "a 1",
            "",
            "{",
            "}",
            "m{",
            "m{a",
            "m{a=",
            "m{a=\"",
            "m{a=\"\\",
            "\u{0}",
            "# TYPE",
            "# HELP",
            "m 1 2 3",
            "\u{feff}m 1",
            "m{a=\"é\\",
            "m{a=\"é\\\"\"} 1\n",
        ];
        for t in inputs {
            same_as_parse_text(t);
        }
    }

    #[test]
    fn unescaped_values_live_after_the_body() {
        let d = decode_text("m{a=\"x\\\"y\",b=\"plain\"} 1\n".to_string()).unwrap();
        let s = &d.families[0].samples[0];
        let l = d.labels(s);
        assert_eq!(d.str(l[0].1), "x\"y");
        assert_eq!(d.str(l[1].1), "plain");
        assert_eq!(d.str(s.name), "m");
    }
}
