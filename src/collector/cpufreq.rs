//! `cpufreq`: per-CPU frequencies from `/sys/devices/system/cpu/cpuN/cpufreq/`
//! (Documentation/ABI/testing/sysfs-devices-system-cpu, Documentation/cpu-freq), the six
//! `node_cpu_[scaling_]frequency_*hertz` gauges of node_exporter 1.5 (kHz in the files).
//!
//! As procfs 0.8 does, a number file that is missing or unreadable (cpuinfo_cur_freq is
//! root-only) gives no series, while the governor and driver files, which the kernel always
//! provides, must be readable or the collector fails.

use std::path::PathBuf;

use super::sysfs;
use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

/// The number files and the family each becomes, with its HELP.
const FILES: [(&str, &str, &str); 6] = [
    (
        "cpuinfo_cur_freq",
        "node_cpu_frequency_hertz",
        "Current cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "node_cpu_frequency_max_hertz",
        "Maximum cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "node_cpu_frequency_min_hertz",
        "Minimum cpu thread frequency in hertz.",
    ),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
];

/// Files procfs requires (it parses them; node_exporter 1.5 exports none).
const REQUIRED: [&str; 5] = [
    "scaling_available_governors",
    "scaling_driver",
    "scaling_governor",
    "related_cpus",
    "scaling_setspeed",
];

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Cpufreq {
        dir: paths.sys("devices/system/cpu"),
    }))
}

struct Cpufreq {
    dir: PathBuf,
}

/// A frequency file's value in kHz: None when missing or not readable.
fn khz(path: &std::path::Path) -> Result<Option<u64>, Error> {
    match sysfs::read_attr(path) {
        Ok(s) => s
            .parse()
            .map(Some)
            .map_err(|_| sysfs::parse_err(path.to_path_buf(), format!("not a number: {s:?}"))),
        Err(e) if sysfs::errno_in(&e, &[libc::ENOENT, libc::EACCES, libc::EPERM]) => Ok(None),
        Err(e) => Err(sysfs::io_err(path, e)),
    }
}

impl Collector for Cpufreq {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        // Per CPU (in glob order), the six values.
        let mut cpus: Vec<(String, [Option<u64>; 6])> = Vec::new();
        for (num, cpu) in sysfs::glob(&self.dir, "cpu", true)? {
            let dir = cpu.join("cpufreq");
            match std::fs::metadata(&dir) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(sysfs::io_err(&dir, e)),
            }
            let mut vals = [None; 6];
            for (v, (file, _, _)) in vals.iter_mut().zip(FILES) {
                *v = khz(&dir.join(file))?;
            }
            for f in REQUIRED {
                sysfs::attr(&dir, f)?;
            }
            cpus.push((num, vals));
        }
        for (i, (_, name, help)) in FILES.iter().enumerate() {
            if !cpus.iter().any(|(_, v)| v[i].is_some()) {
                continue;
            }
            let mut f = enc.family(name, help, MetricType::Gauge);
            for (cpu, vals) in &cpus {
                if let Some(v) = vals[i] {
                    f.sample(&[("cpu", cpu)], v as f64 * 1000.0);
                }
            }
        }
        Ok(())
    }
}
