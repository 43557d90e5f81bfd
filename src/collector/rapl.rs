//! `rapl`: Intel/AMD RAPL energy counters of the powercap zones,
//! `/sys/class/powercap/<zone>/{name,energy_uj,max_energy_range_uj}`
//! (Documentation/power/powercap/powercap.rst), as node_exporter 1.5's `rapl_linux.go`:
//! one counter family per zone name (`node_rapl_package_joules_total`), or one family with a
//! `rapl_zone` label under `--collector.rapl.enable-zone-label`. As in 1.5 the counter's wrap
//! at max_energy_range_uj is not corrected, and `path` carries the `--path.sysfs` prefix.

use std::path::PathBuf;

use super::sysfs;
use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

pub fn flags() -> Vec<Spec> {
    vec![Spec::switch(
        "collector.rapl.enable-zone-label",
        false,
        "Export one node_rapl_joules_total family with a rapl_zone label instead of one family per zone.",
    )]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Rapl {
        dir: paths.sys("class/powercap"),
        zone_label: flags.switch("collector.rapl.enable-zone-label"),
    }))
}

struct Rapl {
    dir: PathBuf,
    zone_label: bool,
}

/// Zone name and index from the `name` file: "package-0" is package, 0; a name without a
/// number is indexed by how often it was seen before (procfs's GetRaplZones).
pub fn name_index(
    name: &str,
    seen: &mut std::collections::HashMap<String, u32>,
) -> (String, String) {
    if let Some((n, i)) = name.split_once('-') {
        if i.parse::<u32>().is_ok() {
            return (n.to_string(), i.to_string());
        }
    }
    let c = seen.entry(name.to_string()).or_insert(0);
    let idx = *c;
    *c += 1;
    (name.to_string(), idx.to_string())
}

/// node_exporter's SanitizeMetricName: each run of characters outside `[0-9A-Za-z_]`, with
/// the underscores around it, becomes one `_`.
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut bad_run = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            if bad_run {
                while out.ends_with('_') {
                    out.pop();
                }
                out.push('_');
                bad_run = false;
                if c == '_' {
                    continue;
                }
            }
            out.push(c);
        } else {
            bad_run = true;
        }
    }
    if bad_run {
        while out.ends_with('_') {
            out.pop();
        }
        out.push('_');
    }
    out
}

impl Collector for Rapl {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let entries = sysfs::list_class(&self.dir, &[libc::ENOENT, libc::EACCES])?;
        let mut seen = std::collections::HashMap::new();
        // (name, index, path, joules)
        let mut zones = Vec::new();
        for (entry, _) in entries {
            let dir = self.dir.join(&entry);
            let Ok(raw) = super::read(&dir.join("name")) else {
                continue;
            };
            let (name, index) = name_index(raw.trim(), &mut seen);
            super::read(&dir.join("max_energy_range_uj"))?;
            let p = dir.join("energy_uj");
            let uj = match super::read(&p) {
                Ok(s) => s,
                // Root-only since the 2020 "Platypus" fix: not an error, no data.
                Err(Error::Io { err, .. })
                    if err.kind() == std::io::ErrorKind::PermissionDenied =>
                {
                    return Err(Error::NoData(p.display().to_string()))
                }
                Err(e) => return Err(e),
            };
            let uj: u64 = uj
                .trim()
                .parse()
                .map_err(|_| sysfs::parse_err(p, format!("not a number: {:?}", uj.trim())))?;
            zones.push((name, index, dir.display().to_string(), uj as f64 / 1e6));
        }
        if self.zone_label {
            let mut f = enc.family(
                "node_rapl_joules_total",
                "Current RAPL value in joules",
                MetricType::Counter,
            );
            for (name, index, path, j) in &zones {
                f.sample(&[("index", index), ("path", path), ("rapl_zone", name)], *j);
            }
            return Ok(());
        }
        let mut out = sysfs::Families::default();
        for (name, index, path, j) in zones {
            out.add(
                &format!("node_rapl_{}_joules_total", sanitize(&name)),
                &format!("Current RAPL {name} value in joules"),
                MetricType::Counter,
                vec![("index", index), ("path", path)],
                j,
            );
        }
        out.write(enc);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names_and_indexes() {
        let mut seen = std::collections::HashMap::new();
        assert_eq!(
            name_index("package-1", &mut seen),
            ("package".into(), "1".into())
        );
        assert_eq!(name_index("dram", &mut seen), ("dram".into(), "0".into()));
        assert_eq!(name_index("dram", &mut seen), ("dram".into(), "1".into()));
        assert_eq!(name_index("core", &mut seen), ("core".into(), "0".into()));
    }

    #[test]
    fn metric_names_sanitized() {
        assert_eq!(sanitize("package"), "package");
        assert_eq!(sanitize("psys-x"), "psys_x");
        assert_eq!(sanitize("a_-_b"), "a_b");
        assert_eq!(sanitize("a.."), "a_");
    }
}
