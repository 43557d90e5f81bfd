//! `time`: node_time_seconds, node_time_zone_offset_seconds{time_zone} (localtime_r(3), so the
//! TZ environment variable and /etc/localtime count as for any program) and the clocksources
//! from sysfs (`devices/system/clocksource/clocksourceN/{available,current}_clocksource`).
//! The clocksource devices and their available list only change when a clocksource driver
//! registers (boot, module load), so they are listed once and kept; the current clocksource is
//! read on every scrape.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Time {
        clocksource_dir: paths.sys("devices/system/clocksource"),
        devices: std::sync::Mutex::new(None),
    }))
}

type Clocksources = Vec<(String, PathBuf, Vec<String>)>;

struct Time {
    clocksource_dir: PathBuf,
    /// Device number, its directory and its available clocksources.
    devices: std::sync::Mutex<Option<Clocksources>>,
}

/// The zone abbreviation and UTC offset in seconds at `t` (unix seconds).
fn zone(t: i64) -> (String, i64) {
    // SAFETY: localtime_r only writes the tm we own; tm_zone points into libc's static zone
    // names, read right away.
    unsafe {
        // libc marks musl's time_t deprecated (it became 64-bit in musl 1.2); the cast follows
        // whatever width the target has.
        #[allow(deprecated)]
        let tt = t as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&tt, &mut tm).is_null() {
            return ("UTC".into(), 0);
        }
        let name = if tm.tm_zone.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        (name, tm.tm_gmtoff as i64)
    }
}

/// Clocksource devices: (device number, directory, available), sorted by device.
pub fn clocksources(dir: &std::path::Path) -> Clocksources {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(dev) = name
            .to_str()
            .and_then(|n| n.strip_prefix("clocksource"))
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let read = |f: &str| std::fs::read_to_string(e.path().join(f)).unwrap_or_default();
        let available = read("available_clocksource")
            .split_ascii_whitespace()
            .map(String::from)
            .collect();
        out.push((dev.to_string(), e.path(), available));
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    out
}

impl Collector for Time {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Error::Other("clock before 1970".into()))?;
        enc.single(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
            MetricType::Gauge,
            now.as_secs_f64(),
        );
        let (tz, offset) = zone(now.as_secs() as i64);
        enc.family(
            "node_time_zone_offset_seconds",
            "System time zone offset in seconds.",
            MetricType::Gauge,
        )
        .sample(&[("time_zone", &tz)], offset as f64);
        let mut devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        let cs = devices.get_or_insert_with(|| clocksources(&self.clocksource_dir));
        if cs.is_empty() {
            return Ok(());
        }
        let mut f = enc.family(
            "node_time_clocksource_available_info",
            "Available clocksources read from '/sys/devices/system/clocksource'.",
            MetricType::Gauge,
        );
        for (dev, _, avail) in cs.iter() {
            for a in avail {
                f.sample(&[("clocksource", a), ("device", dev)], 1.0);
            }
        }
        let mut f = enc.family(
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
            MetricType::Gauge,
        );
        for (dev, path, _) in cs.iter() {
            let cur = super::read(&path.join("current_clocksource")).unwrap_or_default();
            let cur = cur.trim();
            if !cur.is_empty() {
                f.sample(&[("clocksource", cur), ("device", dev)], 1.0);
            }
        }
        Ok(())
    }
}
