//! The one tokenizer of the text formats, and the 0.0.4 decoder built on it. Every reader of
//! exposition text goes through here: the proxy keeps the [`Decoded`] result, which holds the
//! body and refers into it by offsets instead of copying every name, label and value into its
//! own `String` (a scrape that merges 10,000 series otherwise spends most of its time
//! allocating and freeing those strings); [`parse_text`](super::parse_text) turns it into owned
//! families; [`parse_openmetrics`](super::parse_openmetrics) tokenizes its sample lines with
//! [`decode_sample`] in OpenMetrics mode. So a grammar rule lives in one place.
//!
//! Only label values and HELP text that contained escapes are unescaped, into a tail appended
//! to the body; everything else is a [`Span`] of the body as received. Offsets are `u32`: bodies
//! are limited to 64 MiB long before this (`proxy::http::MAX_BODY`), and [`decode_text`]
//! refuses anything that would not fit.

use std::collections::HashMap;

use super::encode::MetricType;
use super::is_metric_name;
use super::parse::{parse_float, truncate, unescape, MetricFamily, ParseError, Sample, CRLF};

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
    /// The value's text when it is exactly what `encode::write_value` writes for `value`
    /// (so it can be copied). Found in every build, by the decoder's fast path for values;
    /// only the proxy's merge copies it.
    #[cfg_attr(not(feature = "proxy"), allow(dead_code))]
    pub canonical: Option<Span>,
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
    /// `text[..verbatim_end]` is the body as received; unescaped strings follow it. Kept in
    /// every build (it is what the decoder produced); only the proxy's merge asks about it.
    #[cfg_attr(not(feature = "proxy"), allow(dead_code))]
    verbatim_end: usize,
    pub families: Vec<DecodedFamily>,
    /// Every sample's (label name, unescaped label value), one sample after the other.
    labels: Vec<(Span, Span)>,
}

impl Decoded {
    /// Bytes of text held (the body and the unescaped strings).
    #[cfg(feature = "proxy")]
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// The text, given up (its buffer reused once the spans are no longer needed).
    #[cfg(feature = "push")]
    pub fn into_text(self) -> String {
        self.text
    }

    /// The text of a span.
    pub fn str(&self, s: Span) -> &str {
        &self.text[s.start as usize..s.end as usize]
    }

    #[cfg(feature = "proxy")]
    /// True if the span is a piece of the body as received (not unescaped): a label value
    /// that is such a span has no character that needs escaping.
    pub fn is_verbatim(&self, s: Span) -> bool {
        (s.end as usize) <= self.verbatim_end
    }

    #[cfg(feature = "proxy")]
    /// The text `name="value"` of a label, when it stands so in the body as received (no
    /// blanks around `=`, no escapes in the value): already valid output.
    pub fn pair_text(&self, name: Span, value: Span) -> Option<&str> {
        // Decoding puts the value's span right inside its quotes, so `="` sits between the
        // two spans exactly when they are two bytes apart, and the closing quote follows.
        let (start, end) = (name.start as usize, value.end as usize);
        (value.start == name.end + 2 && end < self.verbatim_end).then(|| &self.text[start..end + 1])
    }

    /// The (name, value) pairs of a sample, as spans.
    pub fn labels(&self, s: &DecodedSample) -> &[(Span, Span)] {
        &self.labels[s.labels.0 as usize..s.labels.1 as usize]
    }

    /// The families as owned values (names, labels and HELP copied out of the text).
    pub fn to_families(&self) -> Vec<MetricFamily> {
        self.families
            .iter()
            .map(|f| MetricFamily {
                name: self.str(f.name).to_string(),
                help: f.help.map(|h| self.str(h).to_string()),
                typ: f.typ,
                samples: f
                    .samples
                    .iter()
                    .map(|s| Sample {
                        name: self.str(s.name).to_string(),
                        labels: self
                            .labels(s)
                            .iter()
                            .map(|(k, v)| (self.str(*k).to_string(), self.str(*v).to_string()))
                            .collect(),
                        value: s.value,
                        timestamp_ms: s.timestamp_ms,
                    })
                    .collect(),
            })
            .collect()
    }

    #[cfg(any(feature = "proxy", test))]
    /// The same model built from owned families (the OpenMetrics path, which converts names
    /// and so has no body to point into).
    pub fn from_families(fams: &[MetricFamily]) -> Decoded {
        let mut d = Decoded::default();
        // Nothing here is verbatim: every label value is escaped when written.
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
                    canonical: None,
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
    let verbatim_end = text.len();
    text.push_str(&extra);
    Ok(Decoded {
        text,
        verbatim_end,
        families,
        labels,
    })
}

/// Strings produced while decoding (unescaped values), appended to the body afterwards.
pub(super) struct Extra {
    base: usize,
    text: String,
}

impl Extra {
    /// Room for the unescaped strings of `input`.
    pub(super) fn after(input: &str) -> Extra {
        Extra {
            base: input.len(),
            text: String::new(),
        }
    }

    fn push(&mut self, s: &str) -> Span {
        let start = (self.base + self.text.len()) as u32;
        self.text.push_str(s);
        Span {
            start,
            end: (self.base + self.text.len()) as u32,
        }
    }

    /// A span's text, whether in the body or here.
    pub(super) fn resolve<'a>(&'a self, input: &'a str, s: Span) -> &'a str {
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
    let start = (part.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
    if start > input.len() || part.len() > input.len() - start {
        // Not a slice of `input`: only an empty literal can be (the fuzz build asserts it),
        // and where an empty span sits does not matter.
        debug_assert!(part.is_empty(), "span of a string outside the body");
        return Span { start: 0, end: 0 };
    }
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
    let mut extra = Extra::after(input);
    // What parse_text keeps in its `types` and `helps` maps, per family: a TYPE line was
    // seen (then the family's typ is the declared one), a HELP line was seen.
    let mut typed: Vec<bool> = Vec::new();
    let mut helped: Vec<bool> = Vec::new();
    // As in parse_text: the last sample name's family index, type and family name length.
    let mut last: Option<(&str, usize, MetricType, usize)> = None;
    for (i, raw) in input.split('\n').enumerate() {
        let line_no = i + 1;
        let err = |msg: String| ParseError { line: line_no, msg };
        if raw.ends_with('\r') {
            return Err(err(CRLF.into()));
        }
        let line = trim_start_blank(raw);
        if line.is_empty() {
            continue;
        }
        if line.as_bytes()[0] == b'#' {
            let rest = trim_start_blank(&line[1..]);
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
            let known = index.get(name).copied();
            if keyword == "HELP" {
                if known.is_some_and(|i| helped[i]) {
                    return Err(err(format!("second HELP line for metric name {name:?}")));
                }
                let help = if rest.contains('\\') {
                    extra.push(&unescape(rest, false).map_err(err)?)
                } else {
                    span_of(input, rest)
                };
                let idx = known.unwrap_or_else(|| {
                    new_family(&mut families, &mut index, input, name, MetricType::Untyped)
                });
                families[idx].help = Some(help);
                typed.resize(families.len(), false);
                helped.resize(families.len(), false);
                helped[idx] = true;
            } else {
                let t = trim_end_blank(rest);
                let typ = MetricType::parse(t)
                    .ok_or_else(|| err(format!("unknown metric type {t:?}")))?;
                if known.is_some_and(|i| typed[i] || !families[i].samples.is_empty()) {
                    return Err(err(format!(
                        "second TYPE line for metric name {name:?}, or TYPE reported after samples"
                    )));
                }
                let idx = known
                    .unwrap_or_else(|| new_family(&mut families, &mut index, input, name, typ));
                families[idx].typ = typ;
                typed.resize(families.len(), false);
                helped.resize(families.len(), false);
                typed[idx] = true;
            }
            continue;
        }
        let first = labels.len();
        let (name, value, canonical, rest) =
            decode_sample(input, line, false, &mut labels, &mut extra).map_err(err)?;
        let ts = match trim_end_blank(rest) {
            "" => None,
            t => Some(
                t.parse::<i64>()
                    .map_err(|_| err(format!("invalid timestamp {t:?}")))?,
            ),
        };
        let (idx, typ, family_len) = match last {
            Some((n, idx, typ, len)) if n == name => (idx, typ, len),
            _ => {
                let (family, known) = family_of(name, &index, &families, &typed);
                // An undeclared family's typ is untyped (parse_text: no entry in `types`).
                let (idx, typ) = match known {
                    Some(i) => (i, families[i].typ),
                    None => {
                        let i = new_family(
                            &mut families,
                            &mut index,
                            input,
                            family,
                            MetricType::Untyped,
                        );
                        typed.resize(families.len(), false);
                        helped.resize(families.len(), false);
                        (i, MetricType::Untyped)
                    }
                };
                last = Some((name, idx, typ, family.len()));
                (idx, typ, family.len())
            }
        };
        let pairs = labels[first..]
            .iter()
            .map(|(k, v)| (extra.resolve(input, *k), extra.resolve(input, *v)));
        check_suffix_labels(name, pairs, typ, family_len).map_err(err)?;
        families[idx].samples.push(DecodedSample {
            name: span_of(input, name),
            labels: (first as u32, labels.len() as u32),
            value,
            canonical,
            timestamp_ms: ts,
        });
    }
    Ok((families, labels, extra.text))
}

/// Adds the family `name` (with `typ`) and returns its index.
fn new_family<'a>(
    families: &mut Vec<DecodedFamily>,
    index: &mut HashMap<&'a str, usize>,
    input: &str,
    name: &'a str,
    typ: MetricType,
) -> usize {
    families.push(DecodedFamily {
        name: span_of(input, name),
        help: None,
        typ,
        samples: Vec::new(),
    });
    index.insert(name, families.len() - 1);
    families.len() - 1
}

/// As `parse::family_of_004`: the family a sample belongs to, and its index if it exists.
fn family_of<'a>(
    name: &'a str,
    index: &HashMap<&str, usize>,
    families: &[DecodedFamily],
    typed: &[bool],
) -> (&'a str, Option<usize>) {
    for suffix in ["_bucket", "_count", "_sum"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if let Some(&i) = index.get(base) {
                match (typed[i], families[i].typ) {
                    (true, MetricType::Histogram) => return (base, Some(i)),
                    (true, MetricType::Summary) if suffix != "_bucket" => return (base, Some(i)),
                    _ => {}
                }
            }
        }
    }
    (name, index.get(name).copied())
}

/// Bits of [`NAME_CHARS`]: the byte may appear in a metric name, in a label name.
const METRIC: u8 = 1;
const LABEL: u8 = 2;

/// `[a-zA-Z0-9_:]` and `[a-zA-Z0-9_]` as a table (the hottest loops of decoding).
static NAME_CHARS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() || b == b'_' {
            t[c] = METRIC | LABEL;
        } else if b == b':' {
            t[c] = METRIC;
        }
        c += 1;
    }
    t
};

/// Histogram buckets need `le`, summary quantiles need `quantile`, both as floats. `base_len`
/// is the length of the family name within the sample `name`.
pub(super) fn check_suffix_labels<'a>(
    name: &str,
    mut labels: impl Iterator<Item = (&'a str, &'a str)>,
    typ: MetricType,
    base_len: usize,
) -> Result<(), String> {
    let suffix = name.get(base_len..).unwrap_or("");
    let need = match (typ, suffix) {
        (MetricType::Histogram, "_bucket") => "le",
        (MetricType::Summary, "") => "quantile",
        _ => return Ok(()),
    };
    match labels.find(|(k, _)| *k == need) {
        Some((_, v)) if parse_float(v).is_some() => Ok(()),
        Some((_, v)) => Err(format!("{need} label of {name} is not a number: {v:?}")),
        None => Err(format!("{name} has no {need} label")),
    }
}

/// Tokenizes one sample line, `name{labels} value rest` (`line` is a slice of `input`): pushes
/// the labels, returns the name, the value (and its span when canonical) and the rest of the
/// line after the value (timestamp, OpenMetrics exemplar). In 0.0.4 blanks (spaces and tabs)
/// may stand around every token; OpenMetrics (`om`) allows none inside the braces and exactly
/// one space before the value.
pub(super) fn decode_sample<'a>(
    input: &str,
    line: &'a str,
    om: bool,
    labels: &mut Vec<(Span, Span)>,
    extra: &mut Extra,
) -> Result<(&'a str, f64, Option<Span>, &'a str), String> {
    let first = labels.len();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() && NAME_CHARS[b[i] as usize] & METRIC != 0 {
        i += 1;
    }
    let name = &line[..i];
    // The loop took only name characters: what is_metric_name adds is the first one.
    if i == 0 || b[0].is_ascii_digit() {
        return Err(format!("invalid metric name in line {:?}", truncate(line)));
    }
    let skip_blank = |i: &mut usize| {
        while !om && *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
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
            while i < b.len() && NAME_CHARS[b[i] as usize] & LABEL != 0 {
                i += 1;
            }
            let lname = &line[start..i];
            // As for the metric name: only the first character is left to check.
            if i == start || b[start].is_ascii_digit() {
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
                        let run = b[i..]
                            .iter()
                            .position(|&c| c == b'"' || c == b'\\')
                            .map_or(b.len(), |n| i + n);
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
    if om && (b.get(i) != Some(&b' ') || b.get(i + 1) == Some(&b' ')) {
        return Err("OpenMetrics separates fields with exactly one space".into());
    }
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
        i += 1;
    }
    let vtext = &line[start..i];
    let (value, canonical) = match simple_float(vtext) {
        Some((v, true)) => (v, Some(span_of(input, vtext))),
        Some((v, false)) => (v, None),
        None => (
            parse_float(vtext).ok_or_else(|| format!("invalid value {vtext:?} for {name}"))?,
            None,
        ),
    };
    let rest = trim_start_blank(&line[i..]);
    Ok((name, value, canonical, rest))
}

/// The common values, `-?digits[.digits]` with at most 15 digits, without the general float
/// parser: `m / 10^k` with both exact is correctly rounded (Clinger's fast path), so the value
/// is the one `parse_float` gives. Also says whether the text is canonical: exactly what
/// `encode::write_value` writes for the value, so the merge can copy it instead of formatting.
/// That holds for integers up to 15 digits without leading zeros, and for decimals without
/// leading or trailing zeros, with at most 15 significant digits (no other decimal of that
/// length is the same double, so it is the shortest representation) and at least 1e-4 (the
/// encoder writes smaller ones with an exponent). None: let `parse_float` decide.
fn simple_float(t: &str) -> Option<(f64, bool)> {
    let b = t.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let mut m: u64 = 0;
    let mut int_len = 0;
    while int_len < digits.len() && digits[int_len].is_ascii_digit() {
        m = m * 10 + u64::from(digits[int_len] - b'0');
        int_len += 1;
        if int_len > 15 {
            return None;
        }
    }
    if int_len == 0 {
        return None;
    }
    let mut frac_len = 0;
    if int_len < digits.len() {
        if digits[int_len] != b'.' {
            return None;
        }
        for &c in &digits[int_len + 1..] {
            if !c.is_ascii_digit() || int_len + frac_len >= 15 {
                return None;
            }
            m = m * 10 + u64::from(c - b'0');
            frac_len += 1;
        }
    }
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let v = m as f64 / POW10[frac_len];
    let v = if neg { -v } else { v };
    let leading_zero = digits[0] == b'0';
    let canonical = if int_len == digits.len() {
        !leading_zero || int_len == 1
    } else if leading_zero {
        // 0.000ddd: at most three zeros after the point, a non-zero last digit.
        let frac = &digits[int_len + 1..];
        let zeros = frac.iter().take_while(|&&c| c == b'0').count();
        int_len == 1 && zeros <= 3 && frac.last().is_some_and(|&c| c != b'0')
    } else {
        digits.last().is_some_and(|&c| c != b'0' && c != b'.')
    };
    Some((v, canonical))
}

fn trim_start_blank(s: &str) -> &str {
    let n = s
        .bytes()
        .position(|c| c != b' ' && c != b'\t')
        .unwrap_or(s.len());
    &s[n..]
}

fn trim_end_blank(s: &str) -> &str {
    let n = s
        .bytes()
        .rposition(|c| c != b' ' && c != b'\t')
        .map_or(0, |i| i + 1);
    &s[..n]
}

/// The first blank-separated token and the rest after its blanks.
pub(super) fn split_token(s: &str) -> (&str, &str) {
    let s = trim_start_blank(s);
    match s.bytes().position(|c| c == b' ' || c == b'\t') {
        Some(i) => (&s[..i], trim_start_blank(&s[i + 1..])),
        // The empty rest is a slice of the line, not a literal: it may become a span.
        None => (s, &s[s.len()..]),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_text;
    use super::*;

    /// NaN != NaN: make them comparable.
    fn without_nan(mut f: Vec<MetricFamily>) -> Vec<MetricFamily> {
        for s in f.iter_mut().flat_map(|f| f.samples.iter_mut()) {
            if s.value.is_nan() {
                s.value = 0.5;
            }
        }
        f
    }

    /// The grammar's cases (`testdata/text004.txt`: an input as a JSON string, then the result
    /// as Debug text) give exactly the recorded families or error. They were recorded from the
    /// owned parser that promlet had before it was built on this tokenizer, so both agree.
    /// Decoded families also survive the trip through `from_families`.
    #[test]
    fn grammar_cases_give_the_recorded_results() {
        let cases = include_str!("testdata/text004.txt");
        let lines: Vec<&str> = cases.lines().collect();
        assert!(lines.len() >= 100 && lines.len() % 2 == 0);
        for pair in lines.chunks(2) {
            let input: String = serde_json::from_str(pair[0]).unwrap();
            let got = parse_text(&input);
            assert_eq!(format!("{got:?}"), pair[1], "{input:?}");
            if let Ok(fams) = got {
                let back = Decoded::from_families(&fams).to_families();
                assert_eq!(without_nan(back), without_nan(fams), "{input:?}");
            }
        }
    }

    #[test]
    fn simple_values_parse_and_print_as_the_general_path_does() {
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "7",
            "00",
            "007",
            "1.",
            "0.",
            ".5",
            "-.5",
            "1.0",
            "1.50",
            "0.5",
            "0.0001",
            "0.00001",
            "0.0001234",
            "0.00012345678901",
            "123456789012345",
            "1234567890123456",
            "99999999999999.9",
            "0.999999999999999",
            "1e3",
            "-",
            "+1",
            "1.5.5",
            "12345.678",
            "1700000000.123",
            "-42.25",
            "9007199254740993",
            "0.30000000000000004",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every digit count and point position, with a few digit patterns.
        for len in 1..=17 {
            for point in 0..=len {
                for pat in ["1", "9", "10", "123456789", "0001", "5000"] {
                    let digits: String = pat.chars().cycle().take(len).collect();
                    let t = match point {
                        0 => digits.clone(),
                        p => format!("{}.{}", &digits[..len - p], &digits[len - p..]),
                    };
                    texts.push(format!("-{t}"));
                    texts.push(t);
                }
            }
        }
        for t in &texts {
            let want = parse_float(t);
            match simple_float(t) {
                None => {}
                Some((v, canonical)) => {
                    assert_eq!(Some(v.to_bits()), want.map(f64::to_bits), "{t}");
                    let mut out = Vec::new();
                    super::super::encode::write_value(&mut out, v);
                    if canonical {
                        assert_eq!(std::str::from_utf8(&out).unwrap(), t, "{t}");
                    }
                }
            }
        }
        assert_eq!(simple_float("12345.678"), Some((12345.678, true)));
        assert_eq!(simple_float("1.50"), Some((1.5, false)));
        assert_eq!(simple_float("0.00001"), Some((1e-5, false)));
    }

    #[test]
    fn help_without_text_is_a_span_of_the_body() {
        // `# HELP m` with nothing after the name: the empty help was a `""` literal, whose
        // "offset" in the body underflowed (a panic, or a wild span that aborted on use).
        for text in [
            "# HELP m\nm 1\n",
            "m 1\n# HELP n",
            "# HELP m\t\n# TYPE m gauge\nm 1",
        ] {
            let d = decode_text(text.to_string()).unwrap();
            let help = d.families.iter().find_map(|f| f.help).unwrap();
            assert_eq!(d.str(help), "", "{text:?}");
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
