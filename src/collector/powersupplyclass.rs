//! `powersupplyclass`: AC adapters, batteries and UPSes of `/sys/class/power_supply/<ps>/`
//! (Documentation/ABI/testing/sysfs-class-power), as node_exporter 1.5 exports them through
//! procfs's `class_power_supply.go`: one gauge per numeric attribute, in volts, amperes,
//! watt-hours and degrees rather than the files' micro-units and tenths, and
//! `node_power_supply_info` with the non-empty text attributes.

use std::path::PathBuf;

use super::pattern::Pattern;
use super::sysfs::{self, Families};
use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

/// File, exported name, divisor.
const NUMBERS: [(&str, &str, f64); 49] = [
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    (
        "constant_charge_current_max",
        "constant_charge_current_max",
        1e6,
    ),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    (
        "constant_charge_voltage_max",
        "constant_charge_voltage_max",
        1e6,
    ),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// Text attributes that become labels of node_power_supply_info when not empty.
const TEXTS: [&str; 11] = [
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
    "scope",
];

pub fn flags() -> Vec<Spec> {
    vec![Spec::value(
        "collector.powersupply.ignored-supplies",
        Some("^$"),
        "Regexp of power supplies to ignore for powersupplyclass collector.",
    )]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    let re = flags
        .value("collector.powersupply.ignored-supplies")
        .unwrap_or_else(|| "^$".into());
    Ok(Box::new(PowerSupply {
        dir: paths.sys("class/power_supply"),
        ignored: Pattern::new(&re).map_err(|e| format!("bad regexp {re:?}: {e}"))?,
    }))
}

struct PowerSupply {
    dir: PathBuf,
    ignored: Pattern,
}

/// An attribute's text; None when the driver does not provide it (procfs skips ENOENT,
/// EOPNOTSUPP and EINVAL; EACCES and ENODATA fail the collector).
fn optional(path: &std::path::Path) -> Result<Option<String>, Error> {
    match sysfs::read_attr(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if sysfs::errno_in(&e, &[libc::ENOENT, libc::EOPNOTSUPP, libc::EINVAL]) => Ok(None),
        Err(e) => Err(sysfs::io_err(path, e)),
    }
}

impl Collector for PowerSupply {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let entries = sysfs::list_class(&self.dir, &[libc::ENOENT])?;
        let mut out = Families::default();
        for (name, _) in entries {
            if self.ignored.is_match(&name) {
                continue;
            }
            let dir = self.dir.join(&name);
            for (file, metric, div) in NUMBERS {
                let path = dir.join(file);
                let Some(s) = optional(&path)? else {
                    continue;
                };
                let v = sysfs::parse_int_base0(&s)
                    .ok_or_else(|| sysfs::parse_err(path, format!("not an integer: {s:?}")))?;
                out.add(
                    &format!("node_power_supply_{metric}"),
                    &format!("{metric} value of /sys/class/power_supply/<power_supply>."),
                    MetricType::Gauge,
                    vec![("power_supply", name.clone())],
                    v as f64 / div,
                );
            }
            let mut labels = vec![("power_supply", name.clone())];
            for t in TEXTS {
                if let Some(s) = optional(&dir.join(t))? {
                    if !s.is_empty() {
                        labels.push((t, s));
                    }
                }
            }
            out.add(
                "node_power_supply_info",
                "info of /sys/class/power_supply/<power_supply>.",
                MetricType::Gauge,
                labels,
                1.0,
            );
        }
        out.write(enc);
        Ok(())
    }
}
