//! `hwmon`: every sensor file of `/sys/class/hwmon/*` (and of each chip's `device/`), named
//! as node_exporter 1.5's `hwmon_linux.go` names them, following the sysfs interface of
//! Documentation/hwmon/sysfs-interface.rst (`<type><N>_<item>`, milli-units).
//!
//! The `chip` label must stay stable across reboots, and hwmonN numbers are not (they follow
//! driver load order), so like node_exporter the chip is named after the device the
//! `device` symlink resolves to (`platform_coretemp_0`, `pci0000:00_0000:00:18_3`), then the
//! `name` file, then hwmonN. 1.5 has no chip/sensor include or exclude flags (1.7 and 1.9
//! added them), so neither has promlet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::sysfs::{self, Families};
use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

/// The sensor types node_exporter keeps; other files (name, uevent, device) are ignored.
const TYPES: [&str; 13] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Hwmon {
        dir: paths.sys("class/hwmon"),
    }))
}

struct Hwmon {
    dir: PathBuf,
}

/// node_exporter's cleanMetricName: lower case, anything outside `[a-z0-9:_]` becomes `_`,
/// then `_` trimmed from both ends.
pub fn clean(s: &str) -> String {
    let mapped: String = s
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    mapped.trim_matches('_').to_string()
}

/// Splits a file name as `^([^0-9]+)([0-9]*)?(_(.+))?$` does (leftmost-first, greedy): the
/// sensor type, its number (0 when absent) and the property ("" when absent). None when the
/// name does not match or the number overflows.
pub fn explode(name: &str) -> Option<(&str, u64, &str)> {
    let type_end = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    if type_end == 0 {
        return None;
    }
    let after = &name[type_end..];
    let digits_end = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    let (digits, rest) = after.split_at(digits_end);
    let prop_ok = |r: &str| r.is_empty() || (r.len() > 1 && r.starts_with('_'));
    if prop_ok(rest) {
        let num = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        return Some((&name[..type_end], num, rest.get(1..).unwrap_or("")));
    }
    // The greedy type failed: a shorter type ending before an underscore, with no number,
    // leaves that underscore to start the property (`foo_bar1x` is type foo, bar1x).
    let head = &name[..type_end];
    let mut search = head.len();
    while let Some(i) = head[..search].rfind('_') {
        if i >= 1 && name.len() > i + 1 {
            return Some((&name[..i], 0, &name[i + 1..]));
        }
        search = i;
    }
    None
}

/// Sensor (type + number) -> property -> raw value.
type Data = BTreeMap<String, BTreeMap<String, String>>;

/// Adds the sensor files of `dir` to `data`; unreadable files are skipped, as node_exporter
/// does (a `power/` directory matches the pattern and fails to read).
fn collect(dir: &Path, data: &mut Data) -> Result<(), Error> {
    let entries = sysfs::list_dir(dir).map_err(|e| sysfs::io_err(dir, e))?;
    for (name, _) in entries {
        let Some((typ, num, prop)) = explode(&name) else {
            continue;
        };
        if !TYPES.contains(&typ) {
            continue;
        }
        let Ok(raw) = sysfs::read_raw(&dir.join(&name)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&raw);
        let value = text.trim_matches('\n').to_string();
        data.entry(format!("{typ}{num}"))
            .or_default()
            .insert(prop.to_string(), value);
    }
    Ok(())
}

/// The chip label (see the module comment).
fn chip_name(dir: &Path) -> Result<String, Error> {
    if let Ok(dev) = std::fs::canonicalize(dir.join("device")) {
        let name = dev
            .file_name()
            .map(|n| clean(&n.to_string_lossy()))
            .unwrap_or_default();
        let typ = dev
            .parent()
            .and_then(Path::file_name)
            .map(|n| clean(&n.to_string_lossy()))
            .unwrap_or_default();
        if !typ.is_empty() && !name.is_empty() {
            return Ok(format!("{typ}_{name}"));
        }
        if !name.is_empty() {
            return Ok(name);
        }
    }
    if let Some(n) = human_name(dir) {
        return Ok(n);
    }
    let real = std::fs::canonicalize(dir).map_err(|e| sysfs::io_err(dir, e))?;
    let n = real
        .file_name()
        .map(|n| clean(&n.to_string_lossy()))
        .unwrap_or_default();
    if n.is_empty() {
        return Err(Error::Other(format!(
            "could not derive a monitoring name for {}",
            dir.display()
        )));
    }
    Ok(n)
}

/// The cleaned `name` file, if any.
fn human_name(dir: &Path) -> Option<String> {
    let raw = super::read(&dir.join("name")).ok()?;
    let n = clean(&raw);
    (!n.is_empty()).then_some(n)
}

/// All families of one chip.
pub fn chip_families(chip: &str, data: &Data, out: &mut Families) {
    use MetricType::{Counter, Gauge};
    let lab = |sensor: &str| vec![("chip", chip.to_string()), ("sensor", sensor.to_string())];
    for (sensor, props) in data {
        let typ = explode(sensor).map(|t| t.0).unwrap_or("");
        if let Some(label) = props.get("label") {
            out.add(
                "node_hwmon_sensor_label",
                "Label for given chip and sensor",
                Gauge,
                vec![
                    ("chip", chip.to_string()),
                    ("label", label.clone()),
                    ("sensor", sensor.clone()),
                ],
                1.0,
            );
        }
        let whole = props.get("").map(String::as_str);
        match typ {
            "beep_enable" => {
                let v = if whole == Some("1") { 1.0 } else { 0.0 };
                out.add(
                    "node_hwmon_beep_enabled",
                    "Hardware beep enabled",
                    Gauge,
                    lab(sensor),
                    v,
                );
                continue;
            }
            "vrm" | "update_interval" => {
                let Some(v) = sysfs::parse_float(whole.unwrap_or("")) else {
                    continue;
                };
                if typ == "vrm" {
                    out.add(
                        "node_hwmon_voltage_regulator_version",
                        "Hardware voltage regulator",
                        Gauge,
                        lab(sensor),
                        v,
                    );
                } else {
                    out.add(
                        "node_hwmon_update_interval_seconds",
                        "Hardware monitor update interval",
                        Gauge,
                        lab(sensor),
                        v * 0.001,
                    );
                }
                continue;
            }
            _ => {}
        }
        for (element, value) in props {
            if element == "label" {
                continue;
            }
            let mut name = format!("node_hwmon_{typ}");
            if element == "input" {
                // tempN and tempN_input both exist: the input file is the one renamed.
                if whole.is_some() {
                    name.push_str("_input");
                }
            } else if !element.is_empty() {
                name.push('_');
                name.push_str(&clean(element));
            }
            let Some(v) = sysfs::parse_float(value) else {
                continue;
            };
            let e = element.as_str();
            let (suffix, help, typ_out, v) = match (typ, e) {
                (_, "fault" | "alarm") => (
                    "",
                    format!("Hardware sensor {e} status ({typ})"),
                    Gauge,
                    v,
                ),
                (_, "beep") => (
                    "_enabled",
                    "Hardware monitor sensor has beeping enabled".to_string(),
                    Gauge,
                    v,
                ),
                ("in" | "cpu", _) => (
                    "_volts",
                    format!("Hardware monitor for voltage ({e})"),
                    Gauge,
                    v * 0.001,
                ),
                ("temp", t) if t != "type" => {
                    let e = if e.is_empty() { "input" } else { e };
                    (
                        "_celsius",
                        format!("Hardware monitor for temperature ({e})"),
                        Gauge,
                        v * 0.001,
                    )
                }
                ("curr", _) => (
                    "_amps",
                    format!("Hardware monitor for current ({e})"),
                    Gauge,
                    v * 0.001,
                ),
                ("energy", _) => (
                    "_joule_total",
                    format!("Hardware monitor for joules used so far ({e})"),
                    Counter,
                    v / 1_000_000.0,
                ),
                ("power", "accuracy") => (
                    "",
                    "Hardware monitor power meter accuracy, as a ratio".to_string(),
                    Gauge,
                    v / 1_000_000.0,
                ),
                ("power", "average_interval" | "average_interval_min" | "average_interval_max") => (
                    "_seconds",
                    format!("Hardware monitor power usage update interval ({e})"),
                    Gauge,
                    v * 0.001,
                ),
                ("power", _) => (
                    "_watt",
                    format!("Hardware monitor for power usage in watts ({e})"),
                    Gauge,
                    v / 1_000_000.0,
                ),
                ("humidity", _) => (
                    "",
                    format!("Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({e})"),
                    Gauge,
                    v / 1_000_000.0,
                ),
                ("fan", "input" | "min" | "max" | "target") => (
                    "_rpm",
                    format!("Hardware monitor for fan revolutions per minute ({e})"),
                    Gauge,
                    v,
                ),
                // The catch-all; for pwm1 the element is "" and the HELP ends in a space.
                _ => ("", format!("Hardware monitor {typ} element {e}"), Gauge, v),
            };
            name.push_str(suffix);
            out.add(&name, &help, typ_out, lab(sensor), v);
        }
    }
}

impl Hwmon {
    fn chip(&self, dir: &Path, out: &mut Families) -> Result<(), Error> {
        let chip = chip_name(dir)?;
        let mut data = Data::new();
        collect(dir, &mut data)?;
        let dev = dir.join("device");
        if std::fs::metadata(&dev).is_ok() {
            collect(&dev, &mut data)?;
        }
        if let Some(n) = human_name(dir) {
            out.add(
                "node_hwmon_chip_names",
                "Annotation metric for human-readable chip names",
                MetricType::Gauge,
                vec![("chip", chip.clone()), ("chip_name", n)],
                1.0,
            );
        }
        chip_families(&chip, &data, out);
        Ok(())
    }
}

impl Collector for Hwmon {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let entries = sysfs::list_class(&self.dir, &[libc::ENOENT])?;
        let mut out = Families::default();
        let mut last_err = None;
        for (name, ft) in entries {
            let dir = self.dir.join(&name);
            let is_dir = if ft.is_symlink() {
                std::fs::metadata(&dir).is_ok_and(|m| m.is_dir())
            } else {
                ft.is_dir()
            };
            if !is_dir {
                continue;
            }
            // A failing chip does not hide the others' readings from this pass, but the
            // collector still reports the failure.
            if let Err(e) = self.chip(&dir, &mut out) {
                last_err = Some(e);
            }
        }
        out.write(enc);
        match last_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_as_node_exporter() {
        assert_eq!(explode("temp1_input"), Some(("temp", 1, "input")));
        assert_eq!(explode("temp1_crit_alarm"), Some(("temp", 1, "crit_alarm")));
        assert_eq!(explode("pwm1"), Some(("pwm", 1, "")));
        assert_eq!(explode("update_interval"), Some(("update_interval", 0, "")));
        assert_eq!(explode("beep_enable"), Some(("beep_enable", 0, "")));
        assert_eq!(explode("cpu0_vid"), Some(("cpu", 0, "vid")));
        assert_eq!(explode("power"), Some(("power", 0, "")));
        assert_eq!(explode("temp1x"), None);
        assert_eq!(explode("foo_bar1x"), Some(("foo", 0, "bar1x")));
        assert_eq!(explode("1temp"), None);
        assert_eq!(explode("temp1_"), None);
        assert_eq!(explode("temp99999999999999999999999"), None);
        assert_eq!(explode(""), None);
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean("nct6779\n"), "nct6779");
        assert_eq!(clean("coretemp.0"), "coretemp_0");
        assert_eq!(clean("0000:00:18.3"), "0000:00:18_3");
        assert_eq!(clean("--Package id 0--"), "package_id_0");
        assert_eq!(clean("..."), "");
    }

    #[test]
    fn input_renamed_when_the_bare_file_exists() {
        let mut data = Data::new();
        let mut t = BTreeMap::new();
        t.insert(String::new(), "41000".to_string());
        t.insert("input".to_string(), "41500".to_string());
        t.insert("type".to_string(), "4".to_string());
        t.insert("max".to_string(), "junk".to_string());
        data.insert("temp7".into(), t);
        let mut pwm = BTreeMap::new();
        pwm.insert(String::new(), "153".to_string());
        data.insert("pwm1".into(), pwm);
        let mut out = Families::default();
        chip_families("c", &data, &mut out);
        let mut enc = Encoder::new();
        out.write(&mut enc);
        let text = String::from_utf8(enc.into_bytes()).unwrap();
        assert!(text.contains("node_hwmon_temp_celsius{chip=\"c\",sensor=\"temp7\"} 41\n"));
        assert!(text.contains("node_hwmon_temp_input_celsius{chip=\"c\",sensor=\"temp7\"} 41.5\n"));
        assert!(text.contains("node_hwmon_temp_type{chip=\"c\",sensor=\"temp7\"} 4\n"));
        assert!(!text.contains("temp_max"), "unparsable values are skipped");
        assert!(text.contains("# HELP node_hwmon_pwm Hardware monitor pwm element \n"));
    }
}
