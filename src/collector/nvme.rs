//! `nvme`: `node_nvme_info` per controller of `/sys/class/nvme/<d>/` (model, serial,
//! firmware_rev, state; Documentation/ABI/testing/sysfs-class-nvme), as node_exporter 1.5.

use std::path::PathBuf;

use super::sysfs;
use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Nvme {
        dir: paths.sys("class/nvme"),
    }))
}

struct Nvme {
    dir: PathBuf,
}

impl Collector for Nvme {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let entries = sysfs::list_class(&self.dir, &[libc::ENOENT])?;
        let mut rows = Vec::new();
        for (name, _) in entries {
            let d = self.dir.join(&name);
            rows.push([
                name,
                sysfs::attr(&d, "firmware_rev")?,
                sysfs::attr(&d, "model")?,
                sysfs::attr(&d, "serial")?,
                sysfs::attr(&d, "state")?,
            ]);
        }
        let mut f = enc.family(
            "node_nvme_info",
            "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
            MetricType::Gauge,
        );
        for [d, fw, model, serial, state] in &rows {
            f.sample(
                &[
                    ("device", d),
                    ("firmware_revision", fw),
                    ("model", model),
                    ("serial", serial),
                    ("state", state),
                ],
                1.0,
            );
        }
        Ok(())
    }
}
