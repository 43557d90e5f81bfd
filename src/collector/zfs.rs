//! `zfs`: OpenZFS kstats from `/proc/spl/kstat/zfs/` (the SPL's kstat text: a header line,
//! then `name type data` rows; type 4 is uint64): the module-wide files (arcstats, zfetchstats,
//! ...) as untyped `node_zfs_<subsystem>_<name>`, and per pool its `io` columns, its datasets'
//! `objset-*` counters and its `state`, as node_exporter 1.5 names them (HELP is the sysctl
//! name, `kstat.zfs.misc.<file>.<name>`). No `/proc/spl/kstat/zfs` (no ZFS module): no data,
//! success 0, as 1.5.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{read, sysfs, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

/// (metric subsystem, kstat file). A file this ZFS version lacks is skipped.
const FILES: [(&str, &str); 11] = [
    ("zfs_abd", "abdstats"),
    ("zfs_arc", "arcstats"),
    ("zfs_dbuf", "dbuf_stats"),
    ("zfs_dmu_tx", "dmu_tx"),
    ("zfs_dnode", "dnodestats"),
    ("zfs_fm", "fm"),
    ("zfs_vdev_cache", "vdev_cache_stats"),
    ("zfs_vdev_mirror", "vdev_mirror_stats"),
    ("zfs_xuio", "xuio_stats"),
    ("zfs_zfetch", "zfetchstats"),
    ("zfs_zil", "zil"),
];

/// The pool states 1.5 gives a series each.
const STATES: [&str; 6] = [
    "online", "degraded", "faulted", "offline", "removed", "unavail",
];

/// A named kstat's uint64 rows (name, value) and its `dataset_name`, if any.
pub type Kstat<'a> = (Vec<(&'a str, u64)>, Option<&'a str>);

/// The uint64 rows of a named kstat (`name type data` table): name and value, plus the value
/// of the string row `dataset_name` if any. Text before the table header is the kstat's own
/// header; a file without the table header is an error, as in 1.5.
pub fn parse_kstat(text: &str) -> Result<Kstat<'_>, String> {
    let mut rows = Vec::new();
    let mut dataset = None;
    let mut table = false;
    for line in text.lines() {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        if !table {
            table = parts == ["name", "type", "data"];
            continue;
        }
        let [name, typ, data, ..] = parts.as_slice() else {
            continue;
        };
        if *name == "dataset_name" {
            dataset = Some(*data);
        } else if *typ == "4" {
            let v = data
                .parse()
                .map_err(|_| format!("{name}: not a uint64: {data:?}"))?;
            rows.push((*name, v));
        }
    }
    if !table {
        return Err("no \"name type data\" header".into());
    }
    Ok((rows, dataset))
}

/// A pool's `io` kstat: the column names of the line starting `nread` (at least 12 of them)
/// and the values of the line after it. No such header: nothing.
pub fn parse_pool_io(text: &str) -> Result<Vec<(&str, u64)>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = loop {
        let Some(l) = lines.next() else {
            return Ok(Vec::new());
        };
        let f: Vec<&str> = l.split_ascii_whitespace().collect();
        if f.len() >= 12 && f[0] == "nread" {
            break f;
        }
    };
    let mut out = Vec::new();
    for l in lines {
        let vals: Vec<&str> = l.split_ascii_whitespace().collect();
        if vals.len() < header.len() {
            return Err(format!(
                "{} values for {} columns",
                vals.len(),
                header.len()
            ));
        }
        for (name, v) in header.iter().zip(vals) {
            out.push((
                *name,
                v.parse()
                    .map_err(|_| format!("{name}: not a uint64: {v:?}"))?,
            ));
        }
    }
    Ok(out)
}

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Zfs {
        dir: paths.proc("spl/kstat/zfs"),
    }))
}

struct Zfs {
    dir: PathBuf,
}

/// One sample: its labels and value.
type Sample = (Vec<(&'static str, String)>, f64);

/// Samples grouped by family, in first-seen order: pools and datasets share families.
#[derive(Default)]
struct Families {
    index: HashMap<String, usize>,
    list: Vec<(String, String, MetricType, Vec<Sample>)>,
}

impl Families {
    fn add(
        &mut self,
        name: String,
        help: String,
        typ: MetricType,
        labels: Vec<(&'static str, String)>,
        v: f64,
    ) {
        let i = *self.index.entry(name.clone()).or_insert_with(|| {
            self.list.push((name, help, typ, Vec::new()));
            self.list.len() - 1
        });
        self.list[i].3.push((labels, v));
    }
}

/// `evict_l2_eligible-mfu` → `evict_l2_eligible_mfu`.
fn metric_part(name: &str) -> String {
    name.replace('-', "_")
}

fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match read(path) {
        Ok(t) => Ok(Some(t)),
        Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Collector for Zfs {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let Some(entries) = sysfs::names(&self.dir)? else {
            return Err(Error::NoData(self.dir.display().to_string()));
        };
        let parse_err = |path: &Path, msg| Error::Parse {
            path: path.to_path_buf(),
            msg,
        };
        let mut fams = Families::default();
        for (sub, file) in FILES {
            let path = self.dir.join(file);
            let Some(text) = read_optional(&path)? else {
                continue;
            };
            let (rows, _) = parse_kstat(&text).map_err(|m| parse_err(&path, m))?;
            for (name, v) in rows {
                fams.add(
                    format!("node_{sub}_{}", metric_part(name)),
                    format!("kstat.zfs.misc.{file}.{name}"),
                    MetricType::Untyped,
                    Vec::new(),
                    v as f64,
                );
            }
        }
        // Pools are the directories; 1.5 globs */io, then */objset-*, then */state.
        let pools: Vec<&String> = entries
            .iter()
            .filter(|e| self.dir.join(e).is_dir())
            .collect();
        for pool in &pools {
            let path = self.dir.join(pool).join("io");
            let Some(text) = read_optional(&path)? else {
                continue;
            };
            for (col, v) in parse_pool_io(&text).map_err(|m| parse_err(&path, m))? {
                fams.add(
                    format!("node_zfs_zpool_{}", metric_part(col)),
                    format!("kstat.zfs.misc.io.{col}"),
                    MetricType::Untyped,
                    vec![("zpool", pool.to_string())],
                    v as f64,
                );
            }
        }
        for pool in &pools {
            let dir = self.dir.join(pool);
            for objset in sysfs::names(&dir)?.unwrap_or_default() {
                if !objset.starts_with("objset-") {
                    continue;
                }
                let path = dir.join(&objset);
                let text = read(&path)?;
                let (rows, dataset) = parse_kstat(&text).map_err(|m| parse_err(&path, m))?;
                for (name, v) in rows {
                    fams.add(
                        format!("node_zfs_zpool_dataset_{}", metric_part(name)),
                        format!("kstat.zfs.misc.objset.{name}"),
                        MetricType::Untyped,
                        vec![
                            (
                                "zpool",
                                if dataset.is_some() {
                                    pool.to_string()
                                } else {
                                    String::new()
                                },
                            ),
                            ("dataset", dataset.unwrap_or("").to_string()),
                        ],
                        v as f64,
                    );
                }
            }
        }
        for pool in &pools {
            let path = self.dir.join(pool).join("state");
            let Some(text) = read_optional(&path)? else {
                continue;
            };
            let state = text.lines().next().unwrap_or("").to_lowercase();
            for s in STATES {
                fams.add(
                    "node_zfs_zpool_state".into(),
                    "kstat.zfs.misc.state".into(),
                    MetricType::Gauge,
                    vec![("zpool", pool.to_string()), ("state", s.to_string())],
                    if state == s { 1.0 } else { 0.0 },
                );
            }
        }
        for (name, help, typ, samples) in &fams.list {
            let mut f = enc.family(name, help, *typ);
            for (labels, v) in samples {
                let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                f.sample(&l, *v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARCSTATS: &str = include_str!("../../tests/fixtures/server/proc/spl/kstat/zfs/arcstats");

    #[test]
    fn zfs_kstat_uint64_rows_only() {
        let (rows, ds) = parse_kstat(ARCSTATS).unwrap();
        assert_eq!(rows[0], ("hits", 8772612));
        assert!(
            rows.iter().all(|(n, _)| *n != "rarely_negative"),
            "type 3 skipped"
        );
        assert_eq!(ds, None);
        assert!(parse_kstat("hits 4 1\n").is_err(), "no table header");
        assert!(parse_kstat("name type data\nhits 4 x\n").is_err());
        assert_eq!(parse_kstat("name type data\nshort 4\n").unwrap().0, vec![]);
    }

    #[test]
    fn zfs_objset_dataset_name() {
        let t = include_str!("../../tests/fixtures/server/proc/spl/kstat/zfs/tank/objset-0x36");
        let (rows, ds) = parse_kstat(t).unwrap();
        assert_eq!(ds, Some("tank/home"));
        assert_eq!(rows.len(), 6);
    }

    #[test]
    fn zfs_pool_io_columns() {
        let t = include_str!("../../tests/fixtures/server/proc/spl/kstat/zfs/tank/io");
        let io = parse_pool_io(t).unwrap();
        assert_eq!(io.len(), 12);
        assert_eq!(io[0], ("nread", 1884160));
        assert_eq!(parse_pool_io("nothing here\n").unwrap(), vec![]);
        let short = "nread a b c d e f g h i j k\n1 2\n";
        assert!(parse_pool_io(short).is_err());
    }
}
