//! `edac`: memory error counters of each EDAC memory controller,
//! `/sys/devices/system/edac/mc/mcN/` and its `csrowN/` (Documentation/ABI/testing/sysfs-devices-edac),
//! as node_exporter 1.5's `edac_linux.go`: errors the controller could not attribute to a
//! csrow (`*_noinfo_count`) are the csrow "unknown".

use std::path::{Path, PathBuf};

use super::sysfs;
use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Edac {
        dir: paths.sys("devices/system/edac/mc"),
    }))
}

struct Edac {
    dir: PathBuf,
}

fn count(dir: &Path, name: &str) -> Result<f64, Error> {
    let p = dir.join(name);
    let s = super::read(&p)?;
    let t = s.trim();
    t.parse::<u64>()
        .map(|v| v as f64)
        .map_err(|_| sysfs::parse_err(p, format!("not a count: {t:?}")))
}

impl Collector for Edac {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        // (controller, ce, ue, [(csrow, ce, ue)]) with the noinfo counts as csrow "unknown".
        let mut mcs = Vec::new();
        for (num, mc) in sysfs::glob(&self.dir, "mc", true)? {
            if !num.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let ce = count(&mc, "ce_count")?;
            let ue = count(&mc, "ue_count")?;
            let mut rows = vec![(
                "unknown".to_string(),
                count(&mc, "ce_noinfo_count")?,
                count(&mc, "ue_noinfo_count")?,
            )];
            for (row, dir) in sysfs::glob(&mc, "csrow", true)? {
                rows.push((row, count(&dir, "ce_count")?, count(&dir, "ue_count")?));
            }
            mcs.push((num, ce, ue, rows));
        }
        if mcs.is_empty() {
            return Ok(());
        }
        let families: [(&str, &str, bool, bool); 4] = [
            (
                "node_edac_correctable_errors_total",
                "Total correctable memory errors.",
                true,
                false,
            ),
            (
                "node_edac_uncorrectable_errors_total",
                "Total uncorrectable memory errors.",
                false,
                false,
            ),
            (
                "node_edac_csrow_correctable_errors_total",
                "Total correctable memory errors for this csrow.",
                true,
                true,
            ),
            (
                "node_edac_csrow_uncorrectable_errors_total",
                "Total uncorrectable memory errors for this csrow.",
                false,
                true,
            ),
        ];
        for (name, help, ce, per_row) in families {
            let mut f = enc.family(name, help, MetricType::Counter);
            for (mc, mce, mue, rows) in &mcs {
                if per_row {
                    for (row, rce, rue) in rows {
                        let v = if ce { *rce } else { *rue };
                        f.sample(&[("controller", mc), ("csrow", row)], v);
                    }
                } else {
                    f.sample(&[("controller", mc)], if ce { *mce } else { *mue });
                }
            }
        }
        Ok(())
    }
}
