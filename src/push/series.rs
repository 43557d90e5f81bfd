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

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use crate::expfmt::{Decoded, DecodedSample};

use super::wire::{SeriesRef, STALE_NAN};

/// The labels every series of one path gets.
pub struct Target {
    pub job: String,
    pub instance: String,
    /// `global.external_labels`, sorted by name.
    pub external: Vec<(String, String)>,
}

/// One path's scrape history: the previous exposition (to rebuild the label sets of series
/// that vanish) and the hashes of its series.
#[derive(Default)]
pub struct History {
    previous: Option<Decoded>,
    seen: HashSet<u64>,
}

/// Label set of one output sample, built in a reused buffer.
struct Labels<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Labels<'a> {
    fn build(&mut self, t: &'a Target, d: &'a Decoded, s: &DecodedSample) {
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
        self.target(t);
    }

    /// The synthetic series of a scrape: just the name and the target's labels.
    fn synthetic(&mut self, t: &'a Target, name: &'a str) {
        self.pairs.clear();
        self.pairs.push(("__name__", name));
        self.target(t);
    }

    fn target(&mut self, t: &'a Target) {
        if !t.job.is_empty() {
            self.pairs.push(("job", &t.job));
        }
        if !t.instance.is_empty() {
            self.pairs.push(("instance", &t.instance));
        }
        self.pairs
            .sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
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
    }

    fn hash(&self) -> u64 {
        let mut h = DefaultHasher::new();
        for (k, v) in &self.pairs {
            k.hash(&mut h);
            v.hash(&mut h);
        }
        h.finish()
    }
}

/// Counts of one scrape's series, for the synthetic series and promlet's own metrics.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub samples: usize,
    pub added: usize,
    pub stale: usize,
}

/// Writes one scrape of a path through `out` (label set, timestamp ms, value): the samples of
/// `scraped` (None: the scrape failed), the stale markers, and the synthetic series with
/// `duration_s`. Updates `history`.
pub fn scrape(
    t: &Target,
    history: &mut History,
    scraped: Option<Decoded>,
    ts_ms: i64,
    duration_s: f64,
    out: &mut dyn FnMut(&SeriesRef<'_>),
) -> Written {
    let mut w = Written::default();
    let mut labels = Labels { pairs: Vec::new() };
    let mut seen = HashSet::with_capacity(history.seen.len());
    if let Some(d) = &scraped {
        for f in &d.families {
            for s in &f.samples {
                labels.build(t, d, s);
                let h = labels.hash();
                // A series twice in one exposition: Prometheus keeps the first.
                if !seen.insert(h) {
                    continue;
                }
                if !history.seen.contains(&h) {
                    w.added += 1;
                }
                let sample = [(s.timestamp_ms.unwrap_or(ts_ms), s.value)];
                out(&SeriesRef {
                    labels: &labels.pairs,
                    samples: &sample,
                });
                w.samples += 1;
            }
        }
    }
    // Series of the previous scrape that are gone: a stale marker each.
    if let Some(prev) = &history.previous {
        let stale = [(ts_ms, f64::from_bits(STALE_NAN))];
        for f in &prev.families {
            for s in &f.samples {
                labels.build(t, prev, s);
                let h = labels.hash();
                if !seen.contains(&h) && history.seen.contains(&h) {
                    // Once per vanished series, even if it was listed twice.
                    history.seen.remove(&h);
                    out(&SeriesRef {
                        labels: &labels.pairs,
                        samples: &stale,
                    });
                    w.stale += 1;
                }
            }
        }
    }
    let up = if scraped.is_some() { 1.0 } else { 0.0 };
    for (name, v) in [
        ("up", up),
        ("scrape_duration_seconds", duration_s),
        ("scrape_samples_scraped", w.samples as f64),
        ("scrape_samples_post_metric_relabeling", w.samples as f64),
        ("scrape_series_added", w.added as f64),
    ] {
        labels.synthetic(t, name);
        out(&SeriesRef {
            labels: &labels.pairs,
            samples: &[(ts_ms, v)],
        });
    }
    history.seen = seen;
    history.previous = scraped;
    w
}

/// Stale markers for every series of the last scrape, and for the synthetic series, when
/// promlet stops cleanly (as Prometheus does for a target that goes away).
pub fn stop(t: &Target, history: &mut History, ts_ms: i64, out: &mut dyn FnMut(&SeriesRef<'_>)) {
    let stale = [(ts_ms, f64::from_bits(STALE_NAN))];
    let prev = history.previous.take();
    let mut labels = Labels { pairs: Vec::new() };
    if let Some(prev) = &prev {
        for f in &prev.families {
            for s in &f.samples {
                labels.build(t, prev, s);
                if history.seen.remove(&labels.hash()) {
                    out(&SeriesRef {
                        labels: &labels.pairs,
                        samples: &stale,
                    });
                }
            }
        }
    }
    for name in [
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ] {
        labels.synthetic(t, name);
        out(&SeriesRef {
            labels: &labels.pairs,
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
        let w = scrape(&target(), h, d, ts, 0.5, &mut |s| {
            let l: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
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
