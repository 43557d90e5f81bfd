//! `dmi`: `node_dmi_info` from the SMBIOS strings of `/sys/class/dmi/id/`
//! (Documentation/ABI/testing/sysfs-class-dmi... the `id` attributes), read once at start as
//! node_exporter 1.5's `dmi.go` does: they do not change while the machine runs. Files only
//! root may read (serials, UUID) lose their label; a machine without DMI (most VMs and ARM
//! boards) reports no data on every scrape.

use super::sysfs;
use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

/// File and label, in the label order of the HELP text.
const FIELDS: [(&str, &str); 20] = [
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("sys_vendor", "system_vendor"),
];

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    let dir = paths.sys("class/dmi/id");
    let entries = match sysfs::list_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Box::new(Dmi(None))),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut labels = Vec::new();
    for (file, label) in FIELDS {
        if !entries.iter().any(|(n, t)| n == file && t.is_file()) {
            continue;
        }
        match sysfs::read_attr(&dir.join(file)) {
            Ok(v) => labels.push((label, v)),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            Err(e) => return Err(format!("{}: {e}", dir.join(file).display())),
        }
    }
    Ok(Box::new(Dmi(Some(labels))))
}

struct Dmi(Option<Vec<(&'static str, String)>>);

impl Collector for Dmi {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let Some(labels) = &self.0 else {
            return Err(Error::NoData("no DMI".into()));
        };
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        enc.family(
            "node_dmi_info",
            "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, bios_version, board_asset_tag, board_name, board_serial, board_vendor, board_version, chassis_asset_tag, chassis_serial, chassis_vendor, chassis_version, product_family, product_name, product_serial, product_sku, product_uuid, product_version, system_vendor if provided by DMI.",
            MetricType::Gauge,
        )
        .sample(&pairs, 1.0);
        Ok(())
    }
}
