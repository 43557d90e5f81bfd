//! `bcache`: bcache cache sets from `/sys/fs/bcache/<set-uuid>/` (Documentation/admin-guide/
//! bcache.rst, "Sysfs - cache set", "- backing device", "- cache device"): the set's btree and
//! journal figures, each backing device's (`bdevN`) dirty data, writeback controller state and
//! total hit/miss counters, each cache device's (`cacheN`) writes and errors, as
//! node_exporter 1.5's `node_bcache_*` families. Sizes are in bcache's own human format
//! (`bch_hprint`: "1.5G" with binary suffixes and a fraction in 1/1024ths printed as
//! hundredths), read back as procfs 0.8 does. No `/sys/fs/bcache`: no series, success.

use std::path::{Path, PathBuf};

use super::{read, sysfs, write_family, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

const G: MetricType = MetricType::Gauge;
const C: MetricType = MetricType::Counter;

/// Cache set files: (path, family, type, scale, HELP).
#[rustfmt::skip]
const SET: [(&str, &str, MetricType, f64, &str); 10] = [
    ("average_key_size", "node_bcache_average_key_size_sectors", G, 1.0, "Average data per key in the btree (sectors)."),
    ("btree_cache_size", "node_bcache_btree_cache_size_bytes", G, 1.0, "Amount of memory currently used by the btree cache."),
    ("cache_available_percent", "node_bcache_cache_available_percent", G, 1.0, "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data)."),
    ("congested", "node_bcache_congested", G, 1.0, "Congestion."),
    ("root_usage_percent", "node_bcache_root_usage_percent", G, 1.0, "Percentage of the root btree node in use (tree depth increases if too high)."),
    ("tree_depth", "node_bcache_tree_depth", G, 1.0, "Depth of the btree."),
    ("internal/active_journal_entries", "node_bcache_active_journal_entries", G, 1.0, "Number of journal entries that are newer than the index."),
    ("internal/btree_nodes", "node_bcache_btree_nodes", G, 1.0, "Total nodes in the btree."),
    // The file is in microseconds; 1.5 scales it as if it were nanoseconds (1000x too small).
    ("internal/btree_read_average_duration_us", "node_bcache_btree_read_average_duration_seconds", G, 1e-9, "Average btree read duration."),
    ("internal/cache_read_races", "node_bcache_cache_read_races_total", C, 1.0, "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed."),
];

/// Backing device files (under `bdevN/`); `writeback_rate_debug` fields come after these.
#[rustfmt::skip]
const BDEV: [(&str, &str, MetricType, &str); 8] = [
    ("dirty_data", "node_bcache_dirty_data_bytes", G, "Amount of dirty data for this backing device in the cache."),
    ("stats_total/bypassed", "node_bcache_bypassed_bytes_total", C, "Amount of IO (both reads and writes) that has bypassed the cache."),
    ("stats_total/cache_hits", "node_bcache_cache_hits_total", C, "Hits counted per individual IO as bcache sees them."),
    ("stats_total/cache_misses", "node_bcache_cache_misses_total", C, "Misses counted per individual IO as bcache sees them."),
    ("stats_total/cache_bypass_hits", "node_bcache_cache_bypass_hits_total", C, "Hits for IO intended to skip the cache."),
    ("stats_total/cache_bypass_misses", "node_bcache_cache_bypass_misses_total", C, "Misses for IO intended to skip the cache."),
    ("stats_total/cache_miss_collisions", "node_bcache_cache_miss_collisions_total", C, "Instances where data insertion from cache miss raced with write (data already present)."),
    ("stats_total/cache_readaheads", "node_bcache_cache_readaheads_total", C, "Count of times readahead occurred."),
];

/// `writeback_rate_debug` lines: (prefix, family, HELP).
#[rustfmt::skip]
const WRITEBACK: [(&str, &str, &str); 5] = [
    ("target:", "node_bcache_dirty_target_bytes", "Current dirty data target threshold for this backing device in bytes."),
    ("rate:", "node_bcache_writeback_rate", "Current writeback rate for this backing device in bytes."),
    ("proportional:", "node_bcache_writeback_rate_proportional_term", "Current result of proportional controller, part of writeback rate"),
    ("integral:", "node_bcache_writeback_rate_integral_term", "Current result of integral controller, part of writeback rate"),
    ("change:", "node_bcache_writeback_change", "Last writeback rate change step for this backing device."),
];

/// Cache device files (under `cacheN/`).
#[rustfmt::skip]
const CACHE: [(&str, &str, MetricType, &str); 3] = [
    ("io_errors", "node_bcache_io_errors", G, "Number of errors that have occurred, decayed by io_error_halflife."),
    ("metadata_written", "node_bcache_metadata_written_bytes_total", C, "Sum of all non data writes (btree writes and all other metadata)."),
    ("written", "node_bcache_written_bytes_total", C, "Sum of all data that has been written to the cache."),
];

pub fn flags() -> Vec<Spec> {
    vec![Spec::switch(
        "collector.bcache.priorityStats",
        false,
        "Expose expensive priority stats.",
    )]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Bcache {
        dir: paths.sys("fs/bcache"),
        priority: flags.switch("collector.bcache.priorityStats"),
    }))
}

struct Bcache {
    dir: PathBuf,
    priority: bool,
}

/// `bch_hprint` text back to a number: "1.5G" is 1 + 5/10.24 GiB (the kernel prints the
/// fraction in 1024ths as if in hundredths); a suffix it does not know gives 0, as in procfs.
pub fn dehumanize(s: &str) -> Result<f64, String> {
    let bad = || format!("not a bcache size: {s:?}");
    let mut chars = s.chars();
    let last = chars.next_back().ok_or_else(bad)?;
    if last <= '9' {
        return s.parse::<f64>().map(f64::trunc).map_err(|_| bad());
    }
    let body = chars.as_str();
    let mul = match last {
        'k' => 1u64 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        'T' => 1 << 40,
        'P' => 1 << 50,
        'E' => 1 << 60,
        // Z and Y do not fit a u64 multiplier; procfs's float product saturates.
        'Z' => return mant(body).map(|m| (m * 2f64.powi(70)).min(u64::MAX as f64).trunc()),
        'Y' => return mant(body).map(|m| (m * 2f64.powi(80)).min(u64::MAX as f64).trunc()),
        _ => 0,
    } as f64;
    Ok((mant(body)? * mul).min(u64::MAX as f64).trunc())
}

/// "427.5" as bch_hprint meant it: 427 + 5/10.24.
fn mant(s: &str) -> Result<f64, String> {
    let bad = || format!("not a bcache number: {s:?}");
    let mut parts = s.split('.');
    let int: f64 = parts.next().unwrap_or("").parse().map_err(|_| bad())?;
    match parts.next() {
        None => Ok(int),
        Some(frac) => Ok(int + frac.parse::<f64>().map_err(|_| bad())? / 10.24),
    }
}

/// A signed value of `writeback_rate_debug` ("-12.3k").
fn dehumanize_signed(s: &str) -> Result<f64, String> {
    match s.strip_prefix('-') {
        Some(rest) => dehumanize(rest).map(|v| -v),
        None => dehumanize(s),
    }
}

/// The five exported values of `writeback_rate_debug`, in [`WRITEBACK`] order.
pub fn parse_writeback(text: &str) -> Result<[f64; 5], String> {
    let mut out = [0.0; 5];
    for line in text.lines() {
        let Some(last) = line.split_ascii_whitespace().last() else {
            continue;
        };
        if line.starts_with("next io:") {
            last.trim_end_matches("ms")
                .parse::<i64>()
                .map_err(|_| format!("bad next io: {last:?}"))?;
            continue;
        }
        if line.starts_with("dirty:") {
            dehumanize(last)?;
            continue;
        }
        for (i, (prefix, ..)) in WRITEBACK.iter().enumerate() {
            if line.starts_with(prefix) {
                let v = last.trim_end_matches("/sec");
                out[i] = match i {
                    0 | 1 => dehumanize(v)?,
                    _ => dehumanize_signed(v)?,
                };
            }
        }
    }
    Ok(out)
}

/// `Unused:` and `Metadata:` percentages of `priority_stats`.
pub fn parse_priority(text: &str) -> Result<[f64; 2], String> {
    let mut out = [0.0; 2];
    for line in text.lines() {
        let i = if line.starts_with("Unused:") {
            0
        } else if line.starts_with("Metadata:") {
            1
        } else {
            continue;
        };
        let v = line.split_ascii_whitespace().last().unwrap_or("");
        out[i] = v
            .trim_end_matches('%')
            .parse::<u64>()
            .map_err(|_| format!("bad percentage {v:?}"))? as f64;
    }
    Ok(out)
}

/// A value file; a missing one reads as 0, as in procfs 0.8.
fn value(path: &Path) -> Result<f64, Error> {
    match read(path) {
        Ok(t) => dehumanize(t.strip_suffix('\n').unwrap_or(&t)).map_err(|msg| Error::Parse {
            path: path.to_path_buf(),
            msg,
        }),
        Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => Ok(0.0),
        Err(e) => Err(e),
    }
}

fn parsed<T>(path: &Path, r: Result<T, String>) -> Result<T, Error> {
    r.map_err(|msg| Error::Parse {
        path: path.to_path_buf(),
        msg,
    })
}

/// Entries named `<prefix><digit>...`.
fn numbered(names: &[String], prefix: &str) -> Vec<String> {
    names
        .iter()
        .filter(|n| {
            n.strip_prefix(prefix)
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .cloned()
        .collect()
}

struct Set {
    uuid: String,
    values: [f64; SET.len()],
    bdevs: Vec<(String, [f64; BDEV.len()], [f64; WRITEBACK.len()])>,
    caches: Vec<(String, [f64; CACHE.len()], Option<[f64; 2]>)>,
}

fn read_set(base: &Path, uuid: &str, priority: bool) -> Result<Set, Error> {
    let mut values = [0.0; SET.len()];
    for (slot, (file, _, _, scale, _)) in values.iter_mut().zip(SET) {
        *slot = value(&base.join(file))? * scale;
    }
    let names = sysfs::names(base)?.unwrap_or_default();
    let mut bdevs = Vec::new();
    for b in numbered(&names, "bdev") {
        let dir = base.join(&b);
        let mut v = [0.0; BDEV.len()];
        for (slot, (file, ..)) in v.iter_mut().zip(BDEV) {
            *slot = value(&dir.join(file))?;
        }
        let path = dir.join("writeback_rate_debug");
        let wb = parsed(&path, parse_writeback(&read(&path)?))?;
        bdevs.push((b, v, wb));
    }
    let mut caches = Vec::new();
    for c in numbered(&names, "cache") {
        let dir = base.join(&c);
        let mut v = [0.0; CACHE.len()];
        for (slot, (file, ..)) in v.iter_mut().zip(CACHE) {
            *slot = value(&dir.join(file))?;
        }
        let prio = if priority {
            let path = dir.join("priority_stats");
            Some(parsed(&path, parse_priority(&read(&path)?))?)
        } else {
            None
        };
        caches.push((c, v, prio));
    }
    Ok(Set {
        uuid: uuid.to_string(),
        values,
        bdevs,
        caches,
    })
}

impl Collector for Bcache {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let Some(names) = sysfs::names(&self.dir)? else {
            return Ok(());
        };
        let sets = names
            .iter()
            .filter(|n| n.contains('-'))
            .map(|n| read_set(&self.dir.join(n), n, self.priority))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, (_, name, typ, _, help)) in SET.iter().enumerate() {
            write_family(enc, name, help, *typ, |add| {
                for s in &sets {
                    add(&[("uuid", &s.uuid)], s.values[i]);
                }
            });
        }
        for (i, (_, name, typ, help)) in BDEV.iter().enumerate() {
            write_family(enc, name, help, *typ, |add| {
                for s in &sets {
                    for (b, v, _) in &s.bdevs {
                        add(&[("backing_device", b), ("uuid", &s.uuid)], v[i]);
                    }
                }
            });
        }
        for (i, (_, name, help)) in WRITEBACK.iter().enumerate() {
            write_family(enc, name, help, G, |add| {
                for s in &sets {
                    for (b, _, wb) in &s.bdevs {
                        add(&[("backing_device", b), ("uuid", &s.uuid)], wb[i]);
                    }
                }
            });
        }
        for (i, (_, name, typ, help)) in CACHE.iter().enumerate() {
            write_family(enc, name, help, *typ, |add| {
                for s in &sets {
                    for (c, v, _) in &s.caches {
                        add(&[("cache_device", c), ("uuid", &s.uuid)], v[i]);
                    }
                }
            });
        }
        if self.priority {
            #[rustfmt::skip]
            let prio = [
                ("node_bcache_priority_stats_unused_percent", "The percentage of the cache that doesn't contain any data."),
                ("node_bcache_priority_stats_metadata_percent", "Bcache's metadata overhead."),
            ];
            for (i, (name, help)) in prio.iter().enumerate() {
                write_family(enc, name, help, G, |add| {
                    for s in &sets {
                        for (c, _, p) in &s.caches {
                            if let Some(p) = p {
                                add(&[("cache_device", c), ("uuid", &s.uuid)], p[i]);
                            }
                        }
                    }
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcache_dehumanize_as_bch_hprint_prints() {
        assert_eq!(dehumanize("512"), Ok(512.0));
        assert_eq!(dehumanize("1.5G"), Ok(1598029824.0));
        assert_eq!(dehumanize("1.3M"), Ok(1355776.0));
        assert_eq!(dehumanize("427.5k"), Ok(437748.0));
        assert_eq!(
            dehumanize("1.5x"),
            Ok(0.0),
            "unknown suffix: procfs multiplies by 0"
        );
        assert!(dehumanize("").is_err());
        assert!(dehumanize("abc").is_err());
        assert!(dehumanize("1.aG").is_err());
        // A multi-byte last character (found by the truncated-fixture test) is an unknown
        // suffix, not a panic.
        assert_eq!(dehumanize("1\u{fffd}"), Ok(0.0));
        assert_eq!(dehumanize_signed("-1.0k"), Ok(-1024.0));
    }

    #[test]
    fn bcache_writeback_rate_debug() {
        let t = include_str!(
            "../../tests/fixtures/server/sys/fs/bcache/deaddd54-c735-46d5-868e-f331c5fd7c74/bdev0/writeback_rate_debug"
        );
        assert_eq!(
            parse_writeback(t).unwrap(),
            [21894266880.0, 1150976.0, 437748.0, 808960.0, 329204.0]
        );
        assert!(parse_writeback("rate:\t\tfoo/sec\n").is_err());
        assert!(parse_writeback("next io:\tsoonms\n").is_err());
    }

    #[test]
    fn bcache_priority_stats() {
        assert_eq!(
            parse_priority("Unused:\t\t99%\nMetadata:\t0%\n"),
            Ok([99.0, 0.0])
        );
        assert!(parse_priority("Unused:\t\tx%\n").is_err());
    }
}
