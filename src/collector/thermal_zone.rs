//! `thermal_zone`: the kernel's thermal zones and cooling devices,
//! `/sys/class/thermal/thermal_zone*` and `cooling_device*`
//! (Documentation/ABI/testing/sysfs-class-thermal), as node_exporter 1.5 exports them
//! through procfs's `class_thermal.go` and `class_cooling_device.go`.

use std::path::{Path, PathBuf};

use super::sysfs;
use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Thermal {
        dir: paths.sys("class/thermal"),
    }))
}

struct Thermal {
    dir: PathBuf,
}

/// One zone: number (the name's suffix), type, temperature in millidegrees Celsius.
#[derive(Debug, PartialEq)]
pub struct Zone {
    pub name: String,
    pub typ: String,
    pub temp: i64,
}

/// One cooling device: number, type, max and current throttle state.
#[derive(Debug, PartialEq)]
pub struct Cooling {
    pub name: String,
    pub typ: String,
    pub max: i64,
    pub cur: i64,
}

fn int(dir: &Path, name: &str) -> Result<i64, Error> {
    let s = sysfs::attr(dir, name)?;
    s.parse()
        .map_err(|_| sysfs::parse_err(dir.join(name), format!("not an integer: {s:?}")))
}

/// ENODATA: the zone's sensor has no reading now; procfs skips the zone.
fn is_nodata(e: &Error) -> bool {
    matches!(e, Error::Io { err, .. } if sysfs::errno_in(err, &[libc::ENODATA]))
}

fn zone(name: String, dir: &Path) -> Result<Option<Zone>, Error> {
    let read = || -> Result<Zone, Error> {
        let typ = sysfs::attr(dir, "type")?;
        // policy is required by procfs though not exported.
        sysfs::attr(dir, "policy")?;
        let temp = int(dir, "temp")?;
        Ok(Zone {
            name: name.clone(),
            typ,
            temp,
        })
    };
    match read() {
        Ok(z) => Ok(Some(z)),
        Err(e) if is_nodata(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Collector for Thermal {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let mut zones = Vec::new();
        for (num, dir) in sysfs::glob(&self.dir, "thermal_zone", false)? {
            if let Some(z) = zone(num, &dir)? {
                zones.push(z);
            }
        }
        let mut cooling = Vec::new();
        for (num, dir) in sysfs::glob(&self.dir, "cooling_device", false)? {
            cooling.push(Cooling {
                typ: sysfs::attr(&dir, "type")?,
                max: int(&dir, "max_state")?,
                cur: int(&dir, "cur_state")?,
                name: num,
            });
        }
        if !zones.is_empty() {
            let mut f = enc.family(
                "node_thermal_zone_temp",
                "Zone temperature in Celsius",
                MetricType::Gauge,
            );
            for z in &zones {
                f.sample(
                    &[("type", &z.typ), ("zone", &z.name)],
                    z.temp as f64 / 1000.0,
                );
            }
        }
        if !cooling.is_empty() {
            let mut f = enc.family(
                "node_cooling_device_cur_state",
                "Current throttle state of the cooling device",
                MetricType::Gauge,
            );
            for c in &cooling {
                f.sample(&[("name", &c.name), ("type", &c.typ)], c.cur as f64);
            }
            let mut f = enc.family(
                "node_cooling_device_max_state",
                "Maximum throttle state of the cooling device",
                MetricType::Gauge,
            );
            for c in &cooling {
                f.sample(&[("name", &c.name), ("type", &c.typ)], c.max as f64);
            }
        }
        Ok(())
    }
}
