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
use crate::expfmt::{Decoded, DecodedFamily, DecodedSample, Encoder, MetricType};

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

    // Reused buffers: the label set of one sample, its identity key, the series already
    // written in the current family.
    let mut labels: Vec<(&str, &str)> = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    let mut seen = Seen::default();
    for (name, g) in &groups {
        seen.clear();
        // A family whose samples are all dropped is taken back out.
        let cp = enc.checkpoint();
        let mut wrote = 0usize;
        let mut fam = enc.family(name, g.help.unwrap_or(""), g.typ);
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
                build_labels(&mut labels, d, s, inp);
                // Length-prefixed, so no label value can make two label sets look alike.
                key.clear();
                key.extend_from_slice(&(sname.len() as u32).to_le_bytes());
                key.extend_from_slice(sname.as_bytes());
                for (k, v) in &labels {
                    key.extend_from_slice(&(k.len() as u32).to_le_bytes());
                    key.extend_from_slice(k.as_bytes());
                    key.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    key.extend_from_slice(v.as_bytes());
                }
                if !seen.insert(&key) {
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
                let suffix = sname.strip_prefix(*name).unwrap_or("");
                fam.write(suffix, &labels, s.value, s.timestamp_ms);
            }
        }
        if wrote == 0 {
            enc.rollback(cp);
        }
    }
    counts
}

/// A set of byte keys without an allocation per key: keys live in one arena, buckets are
/// found by a fast (non-cryptographic) hash and confirmed by comparing the bytes, so a hash
/// collision can never drop a series.
#[derive(Default)]
struct Seen {
    arena: Vec<u8>,
    /// (start, len, next in chain or usize::MAX)
    entries: Vec<(usize, usize, usize)>,
    heads: HashMap<u64, usize, std::hash::BuildHasherDefault<IdHasher>>,
}

impl Seen {
    fn clear(&mut self) {
        self.arena.clear();
        self.entries.clear();
        self.heads.clear();
    }

    /// False if `key` was already in the set.
    fn insert(&mut self, key: &[u8]) -> bool {
        let h = fx_hash(key);
        let head = self.heads.get(&h).copied().unwrap_or(usize::MAX);
        let mut cur = head;
        while cur != usize::MAX {
            let (start, len, next) = self.entries[cur];
            if &self.arena[start..start + len] == key {
                return false;
            }
            cur = next;
        }
        self.entries.push((self.arena.len(), key.len(), head));
        self.arena.extend_from_slice(key);
        self.heads.insert(h, self.entries.len() - 1);
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

/// Hasher for keys that are already hashes.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The output label set of sample `s` from `inp`: upstream labels, overridden by static
/// labels, plus exporter_name; empty values dropped; sorted by name.
fn build_labels<'a>(
    out: &mut Vec<(&'a str, &'a str)>,
    d: &'a Decoded,
    s: &DecodedSample,
    inp: &Source<'a>,
) {
    out.clear();
    for (k, v) in d.labels(s) {
        let (k, v) = (d.str(*k), d.str(*v));
        if !inp.no_rewrite && k == "exporter_name" {
            continue;
        }
        if inp.labels.iter().any(|(sk, _)| sk == k) {
            continue;
        }
        out.push((k, v));
    }
    for (k, v) in inp.labels {
        out.push((k, v));
    }
    if !inp.no_rewrite {
        out.push(("exporter_name", inp.name));
    }
    out.retain(|(_, v)| !v.is_empty());
    out.sort_unstable_by(|a, b| a.0.cmp(b.0));
}
