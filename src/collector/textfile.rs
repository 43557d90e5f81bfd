//! `textfile`: metrics other programs leave as `*.prom` files in the directories given by
//! `--collector.textfile.directory` (repeatable), in the text exposition format 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>), merged
//! into `/metrics` as node_exporter's textfile collector does.
//!
//! Every file is parsed and validated on each scrape. A file that cannot be read or parsed,
//! carries client-side timestamps, declares a family with another type than an earlier file,
//! repeats a series another file already has, or reuses a name a collector already wrote, is
//! left out whole, logged with its path and line, and sets `node_textfile_scrape_error` to 1;
//! the good files are still served. Families of the same name in several files are merged; the
//! first HELP wins and a family without one gets "Metric read from <files>".
//! `node_textfile_mtime_seconds{file}` gives the modification time of each file that was read.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use super::{Collector, Error, Paths};
use crate::expfmt::{parse_text, write_families, Encoder, MetricFamily, MetricType};
use crate::flags::{Flags, Spec};

/// A textfile larger than this is refused rather than read into memory.
const MAX_FILE_BYTES: u64 = 32 << 20;

pub fn flags() -> Vec<Spec> {
    vec![Spec::repeated(
        "collector.textfile.directory",
        "Directory to read text files with metrics from (may be given several times).",
    )]
}

pub fn new(_: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Textfile {
        dirs: flags
            .values("collector.textfile.directory")
            .into_iter()
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .collect(),
    }))
}

pub struct Textfile {
    dirs: Vec<PathBuf>,
}

/// Families merged so far, with the files each came from.
#[derive(Default)]
pub(crate) struct Merged {
    families: Vec<MetricFamily>,
    index: HashMap<String, usize>,
    sources: Vec<Vec<String>>,
    series: HashSet<String>,
}

fn series_key(name: &str, labels: &[(String, String)]) -> String {
    let mut ls: Vec<&(String, String)> = labels.iter().collect();
    ls.sort_unstable();
    let mut k = String::from(name);
    for (n, v) in ls {
        k.push('\u{0}');
        k.push_str(n);
        k.push('=');
        k.push_str(v);
    }
    k
}

impl Merged {
    /// Parses one file's text and merges it, unless it cannot be parsed or conflicts with what
    /// is merged or written already (then nothing of it is taken).
    pub(crate) fn add_text(&mut self, text: &str, file: &str, enc: &Encoder) -> Result<(), String> {
        let fams = parse_text(text).map_err(|e| e.to_string())?;
        if let Some(why) = self.conflict(&fams, enc) {
            return Err(format!("{why}; skipping the whole file"));
        }
        self.add(fams, file);
        Ok(())
    }

    /// Writes the merged families.
    pub(crate) fn write(mut self, enc: &mut Encoder) {
        for (f, src) in self.families.iter_mut().zip(&self.sources) {
            // The files that actually contributed samples to this family are listed.
            if f.help.is_none() {
                f.help = Some(format!("Metric read from {}", src.join(", ")));
            }
        }
        // A TYPE line without samples declares nothing worth exporting.
        self.families.retain(|f| !f.samples.is_empty());
        write_families(enc, &self.families);
    }

    /// Checks a parsed file against what is merged already; None if it can be merged.
    fn conflict(&self, fams: &[MetricFamily], enc: &Encoder) -> Option<String> {
        let mut own = HashSet::new();
        for f in fams {
            if enc.has_family(&f.name) {
                return Some(format!(
                    "metric {} is already exported by a collector",
                    f.name
                ));
            }
            if let Some(&i) = self.index.get(&f.name) {
                if self.families[i].typ != f.typ {
                    return Some(format!(
                        "metric {} has type {} here but {} in {}",
                        f.name,
                        f.typ.as_str(),
                        self.families[i].typ.as_str(),
                        self.sources[i].join(", ")
                    ));
                }
            }
            for s in &f.samples {
                if s.timestamp_ms.is_some() {
                    return Some(format!(
                        "metric {} has a client-side timestamp, which is not supported",
                        s.name
                    ));
                }
                let k = series_key(&s.name, &s.labels);
                if self.series.contains(&k) || !own.insert(k) {
                    return Some(format!("a series of {} is duplicated", s.name));
                }
            }
        }
        None
    }

    fn add(&mut self, fams: Vec<MetricFamily>, file: &str) {
        for f in fams {
            for s in &f.samples {
                self.series.insert(series_key(&s.name, &s.labels));
            }
            match self.index.get(&f.name) {
                Some(&i) => {
                    let dst = &mut self.families[i];
                    if dst.help.is_none() {
                        dst.help = f.help;
                    }
                    dst.samples.extend(f.samples);
                    if !self.sources[i].iter().any(|s| s == file) {
                        self.sources[i].push(file.to_string());
                    }
                }
                None => {
                    self.index.insert(f.name.clone(), self.families.len());
                    self.families.push(f);
                    self.sources.push(vec![file.to_string()]);
                }
            }
        }
    }
}

impl Textfile {
    /// The `*.prom` files of every directory, each directory's sorted by name.
    fn files(&self, errors: &mut bool) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for dir in &self.dirs {
            let rd = match std::fs::read_dir(dir) {
                Ok(rd) => rd,
                Err(e) => {
                    crate::error!("textfile: read directory {}: {e}", dir.display());
                    *errors = true;
                    continue;
                }
            };
            let mut files: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "prom"))
                .collect();
            files.sort_unstable();
            out.extend(files);
        }
        out
    }
}

impl Collector for Textfile {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let mut errors = false;
        let mut merged = Merged::default();
        let mut mtimes: Vec<(String, f64)> = Vec::new();
        for path in self.files(&mut errors) {
            let shown = path.display().to_string();
            let read = std::fs::metadata(&path).and_then(|m| {
                if m.len() > MAX_FILE_BYTES {
                    return Err(std::io::Error::other(format!(
                        "larger than {MAX_FILE_BYTES} bytes"
                    )));
                }
                let mtime = m
                    .modified()?
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                Ok((std::fs::read_to_string(&path)?, mtime))
            });
            let (text, mtime) = match read {
                Ok(x) => x,
                Err(e) => {
                    crate::error!("textfile: {shown}: {e}");
                    errors = true;
                    continue;
                }
            };
            if let Err(e) = merged.add_text(&text, &shown, enc) {
                crate::error!("textfile: {shown}: {e}");
                errors = true;
                continue;
            }
            mtimes.push((shown, mtime));
        }
        merged.write(enc);
        if !mtimes.is_empty() {
            let mut f = enc.family(
                "node_textfile_mtime_seconds",
                "Unixtime mtime of textfiles successfully read.",
                MetricType::Gauge,
            );
            for (file, t) in &mtimes {
                f.sample(&[("file", file)], *t);
            }
        }
        enc.single(
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
            MetricType::Gauge,
            if errors { 1.0 } else { 0.0 },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dirs: Vec<PathBuf>, enc: &mut Encoder) -> String {
        Textfile { dirs }.update(enc).unwrap();
        String::from_utf8(enc.as_bytes().to_vec()).unwrap()
    }

    fn dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("promlet-textfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        for (n, t) in files {
            std::fs::write(d.join(n), t).unwrap();
        }
        d
    }

    #[test]
    fn merges_good_files_and_reports_bad_ones() {
        let d = dir(
            "merge",
            &[
                ("a.prom", "# HELP apt_upgrades_pending Pending upgrades.\n# TYPE apt_upgrades_pending gauge\napt_upgrades_pending{arch=\"amd64\"} 3\n"),
                ("b.prom", "# TYPE apt_upgrades_pending gauge\napt_upgrades_pending{arch=\"all\"} 1\nbackup_ok 1\n"),
                ("bad.prom", "broken{ 1\n"),
                ("ts.prom", "with_ts 1 1700000000000\n"),
                ("dup.prom", "backup_ok 0\n"),
                ("clash.prom", "# TYPE backup_ok counter\nbackup_ok_other 2\n"),
                ("ignored.txt", "not_read 1\n"),
            ],
        );
        let mut enc = Encoder::new();
        let out = run(vec![d.clone()], &mut enc);
        assert!(out.contains("# HELP apt_upgrades_pending Pending upgrades.\n# TYPE apt_upgrades_pending gauge\napt_upgrades_pending{arch=\"amd64\"} 3\napt_upgrades_pending{arch=\"all\"} 1\n"), "{out}");
        assert!(
            out.contains(&format!(
                "# HELP backup_ok Metric read from {}\n",
                d.join("b.prom").display()
            )),
            "{out}"
        );
        assert!(
            out.contains("backup_ok 1\n") && !out.contains("backup_ok 0\n"),
            "{out}"
        );
        assert!(
            !out.contains("broken") && !out.contains("with_ts") && !out.contains("not_read"),
            "{out}"
        );
        assert!(
            !out.contains("backup_ok_other"),
            "type clash file skipped whole: {out}"
        );
        assert!(out.contains(&format!(
            "node_textfile_mtime_seconds{{file=\"{}\"}} ",
            d.join("a.prom").display()
        )));
        assert!(!out.contains("bad.prom"), "{out}");
        assert!(out.contains("node_textfile_scrape_error 1\n"), "{out}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn no_directory_means_no_error() {
        let mut enc = Encoder::new();
        let out = run(vec![], &mut enc);
        assert_eq!(out, "# HELP node_textfile_scrape_error 1 if there was an error opening or reading a file, 0 otherwise\n# TYPE node_textfile_scrape_error gauge\nnode_textfile_scrape_error 0\n");
    }

    #[test]
    fn missing_directory_is_an_error() {
        let mut enc = Encoder::new();
        let out = run(vec!["/nonexistent/promlet-textfile".into()], &mut enc);
        assert!(out.contains("node_textfile_scrape_error 1\n"));
    }

    #[test]
    fn name_of_a_collector_metric_is_refused() {
        let d = dir("clash-collector", &[("x.prom", "node_load1 99\n")]);
        let mut enc = Encoder::new();
        enc.single("node_load1", "1m load average.", MetricType::Gauge, 0.5);
        let out = run(vec![d.clone()], &mut enc);
        assert!(!out.contains("node_load1 99"), "{out}");
        assert!(out.contains("node_textfile_scrape_error 1\n"), "{out}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
