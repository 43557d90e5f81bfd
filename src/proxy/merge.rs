//! The merge: families decoded from several exporters, written as one valid 0.0.4 exposition.
//! Pure (no I/O), so every rule below is unit-tested on literal inputs.
//!
//! Rules (see the README's "Merging proxy" section):
//! - Families are grouped by name and written in name order, each as one block with one
//!   HELP and one TYPE; inside a family, exporters come in config order and each exporter's
//!   samples keep their upstream order (so histogram buckets stay in order).
//! - Every sample gets `exporter_name="<name>"` (unless the exporter has `no_rewrite`), after
//!   the exporter's static `labels`, which override upstream labels of the same name; an
//!   upstream `exporter_name` is replaced (and counted). Labels are sorted by name; a label
//!   with an empty value is dropped (it means "no label" in Prometheus).
//! - The first exporter (in config order) that brings a family decides its TYPE and HELP. A
//!   later exporter whose family has another TYPE loses that family entirely (a TYPE
//!   conflict); one with other HELP text keeps its samples under the first HELP (a HELP
//!   conflict). Both are counted.
//! - A family whose name is a sample name of another family (gauge `h_count` next to
//!   histogram `h`), or the other way round, is a name clash: the family that comes later (in
//!   config order, then upstream order) is dropped and counted.
//! - A series (name + label set) seen before in the output is a duplicate: the first is kept
//!   (as Prometheus keeps the first) and the later one dropped and counted.
//! - Families left without samples are omitted.
//! - With `no_rewrite`, Prometheus's own synthetic series names (`up`, `scrape_*`) are dropped:
//!   they would shadow the series Prometheus writes for the scrape.

use std::collections::{BTreeMap, HashMap};

#[cfg(test)]
use crate::expfmt::MetricFamily;
use crate::expfmt::{
    label_pair, write_labels, write_sample_end, Decoded, DecodedFamily, DecodedSample, Encoder,
    Label, MetricType,
};

/// What the merge needs to know about one exporter.
pub struct Source<'a> {
    pub name: &'a str,
    /// Static labels (override upstream), sorted by name.
    pub labels: &'a [(String, String)],
    pub no_rewrite: bool,
    /// The decoded exposition, or None if the exporter failed (then it contributes nothing).
    pub decoded: Option<&'a Decoded>,
}

/// A [`Source`] with owned families, as the unit tests write them.
#[cfg(test)]
pub struct Input<'a> {
    pub name: &'a str,
    pub labels: &'a [(String, String)],
    pub no_rewrite: bool,
    pub families: Option<&'a [MetricFamily]>,
}

/// [`merge_decoded`] for owned families.
#[cfg(test)]
pub fn merge(enc: &mut Encoder, inputs: &[Input<'_>], reserved: &[&str]) -> Vec<Counts> {
    let decoded: Vec<Option<Decoded>> = inputs
        .iter()
        .map(|i| i.families.map(Decoded::from_families))
        .collect();
    let sources: Vec<Source<'_>> = inputs
        .iter()
        .zip(&decoded)
        .map(|(i, d)| Source {
            name: i.name,
            labels: i.labels,
            no_rewrite: i.no_rewrite,
            decoded: d.as_ref(),
        })
        .collect();
    merge_decoded(enc, &sources, reserved)
}

/// What the merge dropped or changed, per exporter (index into the inputs).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    pub type_conflicts: usize,
    pub help_conflicts: usize,
    pub name_clashes: usize,
    pub duplicates: usize,
    /// Upstream `exporter_name` labels replaced by the configured name.
    pub relabelled: usize,
    /// Prometheus' synthetic series refused from a `no_rewrite` exporter.
    pub refused: usize,
    /// Series written.
    pub series: usize,
}

/// Names Prometheus writes itself for every scrape.
const SYNTHETIC: &[&str] = &[
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "scrape_timeout_seconds",
    "scrape_sample_limit",
    "scrape_body_size_bytes",
];

/// The sample names a family of this type may write.
fn sample_names(name: &str, typ: MetricType) -> Vec<String> {
    match typ {
        MetricType::Histogram => ["_bucket", "_sum", "_count"]
            .iter()
            .map(|s| format!("{name}{s}"))
            .collect(),
        MetricType::Summary => ["", "_sum", "_count"]
            .iter()
            .map(|s| format!("{name}{s}"))
            .collect(),
        _ => vec![name.to_string()],
    }
}

struct Group<'a> {
    help: Option<&'a str>,
    typ: MetricType,
    /// (exporter index, family) in config order.
    parts: Vec<(usize, &'a DecodedFamily)>,
}

/// Merges `inputs` into `enc` (after anything already written there). `reserved` are family
/// names that must not come from upstreams (promlet's own, written by the caller).
/// Returns the counts per input.
pub fn merge_decoded(enc: &mut Encoder, inputs: &[Source<'_>], reserved: &[&str]) -> Vec<Counts> {
    let mut counts = vec![Counts::default(); inputs.len()];
    let groups = group_families(inputs, reserved, &mut counts);
    write_groups(enc, inputs, &groups, &mut counts);
    counts
}

/// Step one: the families of every input grouped by name, with TYPE and HELP conflicts and
/// name clashes decided (and counted) in config order.
fn group_families<'a>(
    inputs: &[Source<'a>],
    reserved: &[&str],
    counts: &mut [Counts],
) -> BTreeMap<&'a str, Group<'a>> {
    let mut groups: BTreeMap<&str, Group<'_>> = BTreeMap::new();
    // Sample name -> owning family name, to detect clashes between families.
    let mut owners: HashMap<String, String> = HashMap::new();
    for r in reserved {
        owners.insert(r.to_string(), r.to_string());
    }
    for (i, inp) in inputs.iter().enumerate() {
        let Some(d) = inp.decoded else { continue };
        for f in &d.families {
            if f.samples.is_empty() {
                continue;
            }
            let fname = d.str(f.name);
            let fhelp = f.help.map(|h| d.str(h));
            if reserved.contains(&fname) {
                counts[i].name_clashes += 1;
                continue;
            }
            if let Some(g) = groups.get_mut(fname) {
                if g.typ != f.typ {
                    counts[i].type_conflicts += 1;
                    continue;
                }
                if g.help != fhelp && fhelp.is_some() {
                    if g.help.is_none() {
                        g.help = fhelp;
                    } else {
                        counts[i].help_conflicts += 1;
                    }
                }
                g.parts.push((i, f));
                continue;
            }
            let names = sample_names(fname, f.typ);
            let clash = names
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(fname))
                .any(|n| owners.get(n).is_some_and(|o| o != fname));
            if clash {
                counts[i].name_clashes += 1;
                continue;
            }
            for n in names {
                owners.insert(n, fname.to_string());
            }
            owners.insert(fname.to_string(), fname.to_string());
            groups.insert(
                fname,
                Group {
                    help: fhelp,
                    typ: f.typ,
                    parts: vec![(i, f)],
                },
            );
        }
    }

    groups
}

/// Step two: each group written as one block, sample lines with their output labels, series
/// already written dropped as duplicates.
fn write_groups(
    enc: &mut Encoder,
    inputs: &[Source<'_>],
    groups: &BTreeMap<&str, Group<'_>>,
    counts: &mut [Counts],
) {
    // Reused across families: the label set of one sample, the series already written in
    // the current family, and where the lines of a discarded family go.
    let mut labels: Vec<(&str, Label<'_>)> = Vec::new();
    let mut seen = Seen::default();
    let mut scratch: Vec<u8> = Vec::new();
    let added: Vec<Vec<(&str, String)>> = inputs.iter().map(added_labels).collect();
    // The answer is about the bodies plus the added labels on every line: reserve it at once
    // rather than growing (and page-faulting) through every doubling.
    let estimate: usize = inputs
        .iter()
        .zip(&added)
        .filter_map(|(inp, a)| {
            let d = inp.decoded?;
            let lines: usize = d.families.iter().map(|f| f.samples.len()).sum();
            let per_line: usize = a.iter().map(|(_, t)| t.len() + 1).sum();
            Some(d.text_len() + lines * per_line)
        })
        .sum();
    let mut reserved_once = false;
    for (name, g) in groups {
        seen.reset(g.parts.iter().map(|(_, f)| f.samples.len()).sum());
        // A family whose samples are all dropped is taken back out.
        let cp = enc.checkpoint();
        let mut wrote = 0usize;
        let mut fam = enc.family(name, g.help.unwrap_or(""), g.typ);
        scratch.clear();
        // Lines are written here directly: names and most label values are copied from the
        // upstream bodies as they are (already valid and escaped), and the written line up to
        // the value is the series' identity (labels sorted, values escaped: one text per
        // label set), so duplicates are found without building a key.
        let buf = fam.raw_buffer().unwrap_or(&mut scratch);
        if !reserved_once {
            buf.reserve(estimate);
            reserved_once = true;
        }
        for (i, f) in &g.parts {
            let inp = &inputs[*i];
            let Some(d) = inp.decoded else { continue };
            let c = &mut counts[*i];
            for s in &f.samples {
                let sname = d.str(s.name);
                if inp.no_rewrite && SYNTHETIC.contains(&sname) {
                    c.refused += 1;
                    continue;
                }
                build_labels(&mut labels, d, s, inp, &added[*i]);
                let start = buf.len();
                // The family name and the sample's suffix: the sample name itself.
                let line_name = if sname.starts_with(*name) {
                    sname
                } else {
                    name
                };
                buf.extend_from_slice(line_name.as_bytes());
                write_labels(buf, labels.iter().map(|(_, l)| *l));
                if !seen.insert(buf, start) {
                    buf.truncate(start);
                    c.duplicates += 1;
                    continue;
                }
                if !inp.no_rewrite
                    && d.labels(s)
                        .iter()
                        .any(|(k, _)| d.str(*k) == "exporter_name")
                {
                    c.relabelled += 1;
                }
                c.series += 1;
                wrote += 1;
                write_sample_end(buf, s.canonical.map(|t| d.str(t)), s.value, s.timestamp_ms);
            }
        }
        if wrote == 0 {
            enc.rollback(cp);
        }
    }
}

/// The lines of one family written so far, found by a fast (non-cryptographic) hash of the
/// line up to the value and confirmed by comparing the bytes, so a hash collision can never
/// drop a series. Open addressing in a table at least twice the family's sample count.
#[derive(Default)]
struct Seen {
    /// Index + 1 into `entries`, 0 for free.
    slots: Vec<u32>,
    shift: u32,
    /// (hash, start, len) of each line's identity in the output buffer.
    entries: Vec<(u64, usize, usize)>,
}

impl Seen {
    /// Empties the set for a family of up to `n` samples.
    fn reset(&mut self, n: usize) {
        let size = (2 * n).next_power_of_two().max(8);
        self.slots.clear();
        self.slots.resize(size, 0);
        self.shift = 64 - size.trailing_zeros();
        self.entries.clear();
    }

    /// Adds `buf[start..]`; false if it was already in the set.
    fn insert(&mut self, buf: &[u8], start: usize) -> bool {
        let key = &buf[start..];
        let h = fx_hash(key);
        let mask = self.slots.len() - 1;
        // Fibonacci hashing: the high bits of the product are the well-mixed ones.
        let mut i = (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize & mask;
        loop {
            let e = self.slots[i] as usize;
            if e == 0 {
                break;
            }
            let (eh, es, el) = self.entries[e - 1];
            if eh == h && &buf[es..es + el] == key {
                return false;
            }
            i = (i + 1) & mask;
        }
        self.entries.push((h, start, key.len()));
        self.slots[i] = self.entries.len() as u32;
        true
    }
}

/// FxHash-style mixing over 8-byte words: fast, and good enough for bucketing.
fn fx_hash(b: &[u8]) -> u64 {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut h: u64 = b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    for &x in chunks.remainder() {
        h = (h.rotate_left(5) ^ x as u64).wrapping_mul(K);
    }
    h
}

/// The labels a source adds to each of its samples: its static labels and exporter_name,
/// with empty values left out, as `name="escaped value"` text, sorted by name.
fn added_labels<'a>(inp: &Source<'a>) -> Vec<(&'a str, String)> {
    let mut out: Vec<(&str, String)> = inp
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain((!inp.no_rewrite).then_some(("exporter_name", inp.name)))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, label_pair(k, v)))
        .collect();
    out.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out
}

/// The output label set of sample `s` from `inp`: upstream labels, overridden by static
/// labels, plus exporter_name (`added`, from [`added_labels`]); empty values dropped; sorted
/// by name.
fn build_labels<'a>(
    out: &mut Vec<(&'a str, Label<'a>)>,
    d: &'a Decoded,
    s: &DecodedSample,
    inp: &Source<'a>,
    added: &'a [(&'a str, String)],
) {
    out.clear();
    for (k, v) in d.labels(s) {
        let (ks, vs) = (d.str(*k), d.str(*v));
        if vs.is_empty() || (!inp.no_rewrite && ks == "exporter_name") {
            continue;
        }
        if inp.labels.iter().any(|(sk, _)| sk == ks) {
            continue;
        }
        // A value from the body as received has nothing to escape; usually even the whole
        // `name="value"` can be copied at once.
        let label = match d.pair_text(*k, *v) {
            Some(p) => Label::Pair(p),
            None if d.is_verbatim(*v) => Label::Verbatim(ks, vs),
            None => Label::Escape(ks, vs),
        };
        out.push((ks, label));
    }
    // Upstream label names are unique and usually sorted already; the added ones go in at
    // their place, so no full sort per sample.
    if !out.windows(2).all(|w| w[0].0 < w[1].0) {
        out.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    for (k, text) in added {
        let at = out.partition_point(|e| e.0 < *k);
        out.insert(at, (k, Label::Pair(text)));
    }
}

#[cfg(test)]
mod decoded_tests {
    use super::*;
    use crate::expfmt::{decode_text, parse_text};

    /// The proxy decodes bodies with `decode_text` (verbatim label values, copied canonical
    /// values); the rule tests go through owned families. Both must write the same bytes.
    #[test]
    fn decoded_bodies_merge_like_owned_families() {
        let a = "# HELP m Help \\\\ with\\nescapes.\n# TYPE m gauge\n\
                 m{z=\"1\",a=\"q\\\"uote\",b=\"back\\\\slash\\nnl\"} 1.50\n\
                 m{z=\"1\",a=\"q\\\"uote\",b=\"back\\\\slash\\nnl\"} 2\n\
                 m{a=\"\",exporter_name=\"x\",site=\"up\"} 0.00001 1700000000000\n\
                 m{a=\"Zürich 東京\"} -12345.678\n\
                 # TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 1e3\nh_count 3\n\
                 u 1 2\nu{k=\"v\"} NaN\nu{k=\"w\"} +Inf\nu{k=\"x\"} 007\n";
        let b = "# TYPE m gauge\nm{a=\"q\\\"uote\",b=\"back\\\\slash\\nnl\",z=\"1\"} 3\nm 4\n\
                 up 1\nscrape_duration_seconds 0.5\nn{ c = \"1\" ,b=\"x\"} 5\nn{b=\"x\",c=\"1\"} 6\n";
        let labels = vec![("site".to_string(), "r\"1".to_string())];
        let owned: Vec<_> = [a, b].iter().map(|t| parse_text(t).unwrap()).collect();
        let decoded: Vec<_> = [a, b]
            .iter()
            .map(|t| decode_text(t.to_string()).unwrap())
            .collect();
        for no_rewrite in [false, true] {
            let ins: Vec<Input<'_>> = ["A", "B"]
                .iter()
                .zip(&owned)
                .map(|(n, f)| Input {
                    name: n,
                    labels: &labels,
                    no_rewrite,
                    families: Some(f),
                })
                .collect();
            let srcs: Vec<Source<'_>> = ["A", "B"]
                .iter()
                .zip(&decoded)
                .map(|(n, d)| Source {
                    name: n,
                    labels: &labels,
                    no_rewrite,
                    decoded: Some(d),
                })
                .collect();
            let (mut e1, mut e2) = (Encoder::new(), Encoder::new());
            let c1 = merge(&mut e1, &ins, &[]);
            let c2 = merge_decoded(&mut e2, &srcs, &[]);
            assert_eq!(
                std::str::from_utf8(e1.as_bytes()).unwrap(),
                std::str::from_utf8(e2.as_bytes()).unwrap()
            );
            assert_eq!(c1, c2);
            assert!(c1[0].duplicates + c1[1].duplicates >= 1);
        }
    }
}
