//! What a Prometheus scrape of one of promlet's paths would store, as series to push: every
//! sample of the exposition with the target's `job` and `instance` and the external labels,
//! the scrape's own series (`up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling`, `scrape_series_added`), and staleness markers for
//! series that were there in the previous scrape and are gone now (or all of them when the
//! scrape failed or promlet stops). No I/O.
//!
//! Label rules, as Prometheus applies them with its defaults: a sample's own `job` or
//! `instance` label is kept as `exported_job` / `exported_instance` (`honor_labels: false`); an
//! external label is added only when the series has no label of that name; empty values are
//! dropped; names are sorted by their bytes. A sample's own timestamp is kept
//! (`honor_timestamps: true`), otherwise the scrape's time is used.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use crate::expfmt::{Decoded, DecodedSample};

use super::wire::{self, SeriesRef, STALE_NAN};

/// The labels every series of one path gets.
pub struct Target {
    pub job: String,
    pub instance: String,
    /// `global.external_labels`, sorted by name.
    pub external: Vec<(String, String)>,
}

/// The hasher of a set of hashes: a key is its own hash.
#[derive(Default)]
struct Id(u64);

impl Hasher for Id {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Hashes = HashSet<u64, BuildHasherDefault<Id>>;

/// The series of one scrape: each one's label set encoded as the wire writes it, one after
/// the other in `labels`, and its hash.
#[derive(Default)]
struct Scraped {
    labels: Vec<u8>,
    /// (hash of the encoded label set, where it ends in `labels`), in scrape order, each
    /// series once.
    series: Vec<(u64, usize)>,
    hashes: Hashes,
}

impl Scraped {
    fn clear(&mut self) {
        self.labels.clear();
        self.series.clear();
        self.hashes.clear();
    }

    /// Where series `i`'s labels end (0 for none).
    fn end(&self, n: usize) -> usize {
        n.checked_sub(1).map_or(0, |i| self.series[i].1)
    }

    /// The encoded labels of series `i`.
    fn labels_of(&self, i: usize) -> &[u8] {
        &self.labels[self.end(i)..self.series[i].1]
    }

    /// Each series' (hash, encoded labels), from series `from` on.
    fn iter_from(&self, from: usize) -> impl Iterator<Item = (u64, &[u8])> {
        (from..self.series.len()).map(move |i| (self.series[i].0, self.labels_of(i)))
    }

    /// `into` becomes this scrape's first `n` series.
    fn copy_prefix(&self, n: usize, into: &mut Scraped) {
        into.clear();
        into.labels.extend_from_slice(&self.labels[..self.end(n)]);
        into.series.extend_from_slice(&self.series[..n]);
        into.hashes.extend(self.series[..n].iter().map(|s| s.0));
    }

    /// Keeps only the first `n` series.
    fn truncate(&mut self, n: usize) {
        for &(h, _) in &self.series[n..] {
            self.hashes.remove(&h);
        }
        self.labels.truncate(self.end(n));
        self.series.truncate(n);
    }
}

/// One path's scrape history: the series of the previous scrape (to write staleness markers
/// for those that vanish, without keeping the previous exposition), and room for the next.
/// Label sets are hashed with keys of this history's own, so an upstream cannot choose label
/// sets whose hashes collide.
///
/// A scrape mostly lists the previous one's series again, in the same order: while it does,
/// each label set is only compared with the previous one at its place, and nothing is hashed,
/// stored or copied. Where it stops doing so, the previous scrape's first series are copied
/// and the rest goes through the hashes.
#[derive(Default)]
pub struct History {
    keys: RandomState,
    previous: Scraped,
    next: Scraped,
    /// The label set being written.
    scratch: Vec<u8>,
}

/// Label set of one output sample, built in a reused buffer and encoded into another.
struct Labels<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Labels<'a> {
    /// Writes the label set of sample `s` into `into`, as [`wire::put_labels`] encodes it.
    fn build(&mut self, t: &'a Target, d: &'a Decoded, s: &DecodedSample, into: &mut Vec<u8>) {
        self.pairs.clear();
        self.pairs.push(("__name__", d.str(s.name)));
        for (k, v) in d.labels(s) {
            let (k, v) = (d.str(*k), d.str(*v));
            if v.is_empty() || k == "__name__" {
                continue;
            }
            let k = match k {
                "job" => "exported_job",
                "instance" => "exported_instance",
                k => k,
            };
            self.pairs.push((k, v));
        }
        self.target(t, into);
    }

    /// The synthetic series of a scrape: just the name and the target's labels.
    fn synthetic(&mut self, t: &'a Target, name: &'a str, into: &mut Vec<u8>) {
        self.pairs.clear();
        self.pairs.push(("__name__", name));
        self.target(t, into);
    }

    /// Adds the target's labels, sorts, and encodes the set into `into`.
    fn target(&mut self, t: &'a Target, into: &mut Vec<u8>) {
        if !t.job.is_empty() {
            self.pairs.push(("job", &t.job));
        }
        if !t.instance.is_empty() {
            self.pairs.push(("instance", &t.instance));
        }
        // Mostly sorted already (collectors write their labels in order).
        if !self
            .pairs
            .windows(2)
            .all(|w| w[0].0.as_bytes() <= w[1].0.as_bytes())
        {
            self.pairs
                .sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        }
        for (k, v) in &t.external {
            if v.is_empty() {
                continue;
            }
            if let Err(at) = self
                .pairs
                .binary_search_by(|p| p.0.as_bytes().cmp(k.as_bytes()))
            {
                self.pairs.insert(at, (k, v));
            }
        }
        into.clear();
        wire::put_labels(into, &self.pairs);
    }
}

/// Counts of one scrape's series, for the synthetic series and promlet's own metrics.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub samples: usize,
    pub added: usize,
    pub stale: usize,
}

const SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Writes one scrape of a path through `out` (label set, timestamp ms, value): the samples of
/// `scraped` (None: the scrape failed), the stale markers, and the synthetic series with
/// `duration_s`. Updates `history`.
pub fn scrape(
    t: &Target,
    history: &mut History,
    scraped: Option<&Decoded>,
    ts_ms: i64,
    duration_s: f64,
    out: &mut dyn FnMut(&SeriesRef<'_>),
) -> Written {
    let mut w = Written::default();
    let mut labels = Labels { pairs: Vec::new() };
    let History {
        keys,
        previous,
        next,
        scratch,
    } = history;
    // Series of this scrape that the previous one had too; until the scrape diverges from
    // the previous one's order, also where it is in that order.
    let mut kept = 0;
    let mut diverged = false;
    if let Some(d) = scraped {
        for f in &d.families {
            for s in &f.samples {
                labels.build(t, d, s, scratch);
                let sample = [(s.timestamp_ms.unwrap_or(ts_ms), s.value)];
                if !diverged {
                    if kept < previous.series.len() && previous.labels_of(kept) == &scratch[..] {
                        kept += 1;
                        out(&SeriesRef {
                            labels: scratch,
                            samples: &sample,
                        });
                        w.samples += 1;
                        continue;
                    }
                    diverged = true;
                    previous.copy_prefix(kept, next);
                }
                let mut hasher = keys.build_hasher();
                hasher.write(scratch);
                let h = hasher.finish();
                // A series twice in one exposition: Prometheus keeps the first.
                if !next.hashes.insert(h) {
                    continue;
                }
                if previous.hashes.contains(&h) {
                    kept += 1;
                } else {
                    w.added += 1;
                }
                out(&SeriesRef {
                    labels: scratch,
                    samples: &sample,
                });
                next.labels.extend_from_slice(scratch);
                next.series.push((h, next.labels.len()));
                w.samples += 1;
            }
        }
    }
    // Series of the previous scrape that are gone: a stale marker each.
    let stale = [(ts_ms, f64::from_bits(STALE_NAN))];
    let mut mark = |labels: &[u8]| {
        out(&SeriesRef {
            labels,
            samples: &stale,
        });
        w.stale += 1;
    };
    if diverged {
        if kept < previous.series.len() {
            for (h, encoded) in previous.iter_from(0) {
                if !next.hashes.contains(&h) {
                    mark(encoded);
                }
            }
        }
        std::mem::swap(previous, next);
    } else {
        // This scrape was the previous one's first `kept` series: the rest are gone.
        for (_, encoded) in previous.iter_from(kept) {
            mark(encoded);
        }
        previous.truncate(kept);
        // Room is kept only while scrapes keep changing.
        *next = Scraped::default();
    }
    let up = if scraped.is_some() { 1.0 } else { 0.0 };
    for (name, v) in SYNTHETIC.into_iter().zip([
        up,
        duration_s,
        w.samples as f64,
        w.samples as f64,
        w.added as f64,
    ]) {
        labels.synthetic(t, name, scratch);
        out(&SeriesRef {
            labels: scratch,
            samples: &[(ts_ms, v)],
        });
    }
    w
}

/// Stale markers for every series of the last scrape, and for the synthetic series, when
/// promlet stops cleanly (as Prometheus does for a target that goes away).
pub fn stop(t: &Target, history: &mut History, ts_ms: i64, out: &mut dyn FnMut(&SeriesRef<'_>)) {
    let stale = [(ts_ms, f64::from_bits(STALE_NAN))];
    for (_, encoded) in history.previous.iter_from(0) {
        out(&SeriesRef {
            labels: encoded,
            samples: &stale,
        });
    }
    history.previous.clear();
    let mut labels = Labels { pairs: Vec::new() };
    for name in SYNTHETIC {
        labels.synthetic(t, name, &mut history.scratch);
        out(&SeriesRef {
            labels: &history.scratch,
            samples: &stale,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expfmt::decode_text;

    fn target() -> Target {
        Target {
            job: "node".into(),
            instance: "r1".into(),
            external: vec![
                ("instance".into(), "ignored".into()),
                ("site".into(), "a".into()),
            ],
        }
    }

    /// Each written series as `{k=v,...} ts value-or-STALE`.
    fn run(h: &mut History, text: Option<&str>, ts: i64) -> (Vec<String>, Written) {
        let mut lines = Vec::new();
        let d = text.map(|t| decode_text(t.to_string()).unwrap());
        let w = scrape(&target(), h, d.as_ref(), ts, 0.5, &mut |s| {
            let l: Vec<String> = wire::decode_labels(s.labels)
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let (t, v) = s.samples[0];
            let v = if v.to_bits() == STALE_NAN {
                "STALE".to_string()
            } else {
                v.to_string()
            };
            lines.push(format!("{{{}}} {t} {v}", l.join(",")));
        });
        (lines, w)
    }

    #[test]
    fn labels_target_external_and_exported() {
        let mut h = History::default();
        let (lines, w) = run(
            &mut h,
            Some("m{job=\"x\",b=\"1\",e=\"\"} 2\nts_m 3 1700000000000\n"),
            1_000,
        );
        assert_eq!(
            lines[0],
            "{__name__=m,b=1,exported_job=x,instance=r1,job=node,site=a} 1000 2"
        );
        assert_eq!(
            lines[1],
            "{__name__=ts_m,instance=r1,job=node,site=a} 1700000000000 3"
        );
        assert_eq!(lines[2], "{__name__=up,instance=r1,job=node,site=a} 1000 1");
        assert!(
            lines[3].starts_with("{__name__=scrape_duration_seconds,"),
            "{lines:?}"
        );
        assert!(lines[4].ends_with(" 1000 2"), "{lines:?}");
        assert!(lines[6].ends_with(" 1000 2"), "series added: {lines:?}");
        assert_eq!(
            w,
            Written {
                samples: 2,
                added: 2,
                stale: 0
            }
        );
    }

    #[test]
    fn vanished_series_get_one_stale_marker() {
        let mut h = History::default();
        run(&mut h, Some("a 1\nb 2\n"), 1_000);
        let (lines, w) = run(&mut h, Some("a 1\n"), 2_000);
        assert_eq!(w.stale, 1);
        assert_eq!(w.added, 0);
        assert!(lines.contains(&"{__name__=b,instance=r1,job=node,site=a} 2000 STALE".to_string()));
        // Gone for good: no second marker.
        let (_, w) = run(&mut h, Some("a 1\n"), 3_000);
        assert_eq!(w.stale, 0);
        // Back again: added.
        let (_, w) = run(&mut h, Some("a 1\nb 5\n"), 4_000);
        assert_eq!(w.added, 1);
    }

    /// (samples, added, stale, the series marked stale) of one scrape.
    fn counts(h: &mut History, text: &str, ts: i64) -> (usize, usize, usize, Vec<String>) {
        let (lines, w) = run(h, Some(text), ts);
        let stale = lines
            .iter()
            .filter(|l| l.ends_with("STALE"))
            .map(|l| l[10..].split(',').next().unwrap().to_string())
            .collect();
        (w.samples, w.added, w.stale, stale)
    }

    #[test]
    fn reordered_appended_and_cut_expositions() {
        let mut h = History::default();
        assert_eq!(counts(&mut h, "a 1\nb 2\nc 3\n", 1), (3, 3, 0, vec![]));
        // The same series again, and in another order: nothing added, nothing stale.
        assert_eq!(counts(&mut h, "a 1\nb 2\nc 3\n", 2), (3, 0, 0, vec![]));
        assert_eq!(counts(&mut h, "c 1\na 2\nb 3\n", 3), (3, 0, 0, vec![]));
        // One more at the end, then one less at the end and one gone from the middle.
        assert_eq!(counts(&mut h, "c 1\na 2\nb 3\nd 4\n", 4), (4, 1, 0, vec![]));
        assert_eq!(
            counts(&mut h, "c 1\na 2\nb 3\n", 5),
            (3, 0, 1, vec!["d".into()])
        );
        assert_eq!(counts(&mut h, "c 1\nb 3\n", 6), (2, 0, 1, vec!["a".into()]));
        // A series back after being gone is added again; one listed twice counts once.
        assert_eq!(counts(&mut h, "c 1\nb 3\na 1\nc 2\n", 7), (3, 1, 0, vec![]));
        assert_eq!(counts(&mut h, "c 1\nb 3\na 1\n", 8), (3, 0, 0, vec![]));
        assert_eq!(
            counts(&mut h, "x 1\n", 9),
            (1, 1, 3, vec!["c".into(), "b".into(), "a".into()])
        );
    }

    #[test]
    fn a_series_listed_twice_is_written_once_and_ends_once() {
        let mut h = History::default();
        let (lines, w) = run(&mut h, Some("a 1\na 2\nb 3\n"), 1_000);
        assert_eq!(w.samples, 2);
        assert!(lines.contains(&"{__name__=a,instance=r1,job=node,site=a} 1000 1".to_string()));
        assert!(!lines
            .iter()
            .any(|l| l.ends_with(" 1000 2") && l.contains("__name__=a,")));
        let (lines, w) = run(&mut h, Some("b 3\n"), 2_000);
        assert_eq!((w.stale, w.added), (1, 0));
        assert!(lines.contains(&"{__name__=a,instance=r1,job=node,site=a} 2000 STALE".to_string()));
    }

    #[test]
    fn failed_scrape_marks_everything_stale_and_up_zero() {
        let mut h = History::default();
        run(&mut h, Some("a 1\nb 2\n"), 1_000);
        let (lines, w) = run(&mut h, None, 2_000);
        assert_eq!(w.stale, 2);
        assert!(lines.contains(&"{__name__=up,instance=r1,job=node,site=a} 2000 0".to_string()));
        let (_, w) = run(&mut h, Some("a 1\n"), 3_000);
        assert_eq!(w.added, 1);
    }

    #[test]
    fn stop_marks_every_series_stale() {
        let mut h = History::default();
        run(&mut h, Some("a 1\nb{x=\"1\"} 2\n"), 1_000);
        let mut n = 0;
        stop(&target(), &mut h, 2_000, &mut |s| {
            assert_eq!(s.samples[0].1.to_bits(), STALE_NAN);
            n += 1;
        });
        assert_eq!(n, 2 + 5);
    }
}
