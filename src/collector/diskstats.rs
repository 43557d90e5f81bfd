//! `diskstats`: block device I/O counters from `/proc/diskstats` (Documentation/admin-guide/
//! iostats.rst: major, minor, name, then 11 counters before 4.18, 15 from 4.18, 17 from 5.5),
//! and each device's udev properties from `<--path.udev.data>/b<major>:<minor>` (udev database
//! `E:KEY=VALUE` lines), as node_exporter 1.5's `node_disk_*`: the counters, `node_disk_info`,
//! `node_disk_filesystem_info`, `node_disk_device_mapper_info` and the `node_disk_ata_*` gauges.
//!
//! A device without udev data (no udev, a container) still gets its counters and a
//! `node_disk_info` with empty labels, as in 1.5.

use std::path::PathBuf;

use super::pattern::Pattern;
use super::{read, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

/// node_exporter 1.5's default `--collector.diskstats.device-exclude`: partitions of sd/hd/vd/
/// xvd/nvme disks, and ram, loop and fd devices.
pub const DEFAULT_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

pub fn flags() -> Vec<Spec> {
    vec![
        Spec::value(
            "collector.diskstats.device-exclude",
            Some(DEFAULT_EXCLUDE),
            "Regexp of diskstats devices to exclude (mutually exclusive to device-include).",
        ),
        Spec::value(
            "collector.diskstats.device-include",
            None,
            "Regexp of diskstats devices to include (mutually exclusive to device-exclude).",
        ),
    ]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    let set = |name: &str| flags.value(name).filter(|s| !s.is_empty());
    let include = set("collector.diskstats.device-include");
    // node_exporter 1.5 counts its non-empty default exclude as "set", so an include alone is a
    // startup panic there; here an include given without an explicit exclude replaces the
    // default (as node_exporter 1.11 does), and only both given explicitly are refused.
    let mut exclude = set("collector.diskstats.device-exclude");
    if exclude.is_some() && include.is_some() {
        if flags.is_given("collector.diskstats.device-exclude") {
            return Err("device-exclude & device-include are mutually exclusive".into());
        }
        exclude = None;
    }
    let compile = |s: Option<String>| {
        s.map(|s| Pattern::new(&s).map_err(|e| format!("bad regexp {s:?}: {e}")))
            .transpose()
    };
    Ok(Box::new(Diskstats {
        path: paths.proc("diskstats"),
        udev: flags.value("path.udev.data").map(PathBuf::from),
        exclude: compile(exclude)?,
        include: compile(include)?,
    }))
}

struct Diskstats {
    path: PathBuf,
    /// `--path.udev.data`; None when the flag is not registered (unit tests).
    udev: Option<PathBuf>,
    exclude: Option<Pattern>,
    include: Option<Pattern>,
}

/// One line of `/proc/diskstats`.
#[derive(Debug, PartialEq)]
pub struct Disk<'a> {
    pub major: u32,
    pub minor: u32,
    pub name: &'a str,
    /// The counters in file order; only the first `count` are present.
    pub stats: [u64; 17],
    pub count: usize,
}

/// Every device line with at least the 11 counters of old kernels. Shorter lines are
/// skipped and a non-number is an error, as procfs's `Sscanf` does.
pub fn parse(text: &str) -> Result<Vec<Disk<'_>>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut it = line.split_ascii_whitespace();
        let (Some(maj), Some(min)) = (it.next(), it.next()) else {
            continue;
        };
        let major = maj
            .parse()
            .map_err(|_| format!("line {n}: bad major {maj:?}"))?;
        let minor = min
            .parse()
            .map_err(|_| format!("line {n}: bad minor {min:?}"))?;
        let Some(name) = it.next() else { continue };
        let mut stats = [0u64; 17];
        let mut count = 0;
        for (slot, f) in stats.iter_mut().zip(&mut it) {
            *slot = f
                .parse()
                .map_err(|_| format!("line {n}: {name}: not a number: {f:?}"))?;
            count += 1;
        }
        if count < 11 {
            continue;
        }
        out.push(Disk {
            major,
            minor,
            name,
            stats,
            count,
        });
    }
    Ok(out)
}

/// The `E:` properties of a udev database file, in file order (a later duplicate wins in
/// [`prop`]).
pub fn parse_udev(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|l| l.split_once('='))
        .collect()
}

/// A property's value, "" when absent.
pub fn prop<'a>(props: &[(&str, &'a str)], key: &str) -> &'a str {
    props
        .iter()
        .rev()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, v)| v)
}

/// The counter families in `/proc/diskstats` column order: name, HELP, type, multiplier.
const STATS: [(&str, &str, MetricType, f64); 17] = {
    use MetricType::{Counter as C, Gauge as G};
    const MS: f64 = 1.0 / 1000.0;
    [
        (
            "node_disk_reads_completed_total",
            "The total number of reads completed successfully.",
            C,
            1.0,
        ),
        (
            "node_disk_reads_merged_total",
            "The total number of reads merged.",
            C,
            1.0,
        ),
        (
            "node_disk_read_bytes_total",
            "The total number of bytes read successfully.",
            C,
            512.0,
        ),
        (
            "node_disk_read_time_seconds_total",
            "The total number of seconds spent by all reads.",
            C,
            MS,
        ),
        (
            "node_disk_writes_completed_total",
            "The total number of writes completed successfully.",
            C,
            1.0,
        ),
        (
            "node_disk_writes_merged_total",
            "The number of writes merged.",
            C,
            1.0,
        ),
        (
            "node_disk_written_bytes_total",
            "The total number of bytes written successfully.",
            C,
            512.0,
        ),
        (
            "node_disk_write_time_seconds_total",
            "This is the total number of seconds spent by all writes.",
            C,
            MS,
        ),
        (
            "node_disk_io_now",
            "The number of I/Os currently in progress.",
            G,
            1.0,
        ),
        (
            "node_disk_io_time_seconds_total",
            "Total seconds spent doing I/Os.",
            C,
            MS,
        ),
        (
            "node_disk_io_time_weighted_seconds_total",
            "The weighted # of seconds spent doing I/Os.",
            C,
            MS,
        ),
        (
            "node_disk_discards_completed_total",
            "The total number of discards completed successfully.",
            C,
            1.0,
        ),
        (
            "node_disk_discards_merged_total",
            "The total number of discards merged.",
            C,
            1.0,
        ),
        // Sectors, not bytes: node_exporter 1.5 does not convert this one.
        (
            "node_disk_discarded_sectors_total",
            "The total number of sectors discarded successfully.",
            C,
            1.0,
        ),
        (
            "node_disk_discard_time_seconds_total",
            "This is the total number of seconds spent by all discards.",
            C,
            MS,
        ),
        (
            "node_disk_flush_requests_total",
            "The total number of flush requests completed successfully",
            C,
            1.0,
        ),
        (
            "node_disk_flush_requests_time_seconds_total",
            "This is the total number of seconds spent by all flush requests.",
            C,
            MS,
        ),
    ]
};

const ATA: [(&str, &str, &str); 3] = [
    (
        "node_disk_ata_rotation_rate_rpm",
        "ATA disk rotation rate in RPMs (0 for SSDs).",
        "ID_ATA_ROTATION_RATE_RPM",
    ),
    (
        "node_disk_ata_write_cache",
        "ATA disk has a write cache.",
        "ID_ATA_WRITE_CACHE",
    ),
    (
        "node_disk_ata_write_cache_enabled",
        "ATA disk has its write cache enabled.",
        "ID_ATA_WRITE_CACHE_ENABLED",
    ),
];

impl Collector for Diskstats {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let text = read(&self.path)?;
        let mut disks = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        disks.retain(|d| {
            self.exclude.as_ref().map_or(true, |r| !r.is_match(d.name))
                && self.include.as_ref().map_or(true, |r| r.is_match(d.name))
        });
        // One udev file per device; unreadable or missing gives empty labels (1.5 logs at
        // debug and goes on).
        let texts: Vec<String> = disks
            .iter()
            .map(|d| match &self.udev {
                Some(dir) => {
                    read(&dir.join(format!("b{}:{}", d.major, d.minor))).unwrap_or_default()
                }
                None => String::new(),
            })
            .collect();
        let props: Vec<Vec<(&str, &str)>> = texts.iter().map(|t| parse_udev(t)).collect();
        let devs = disks.iter().zip(&props);

        let mut f = enc.family(
            "node_disk_info",
            "Info of /sys/block/<block_device>.",
            MetricType::Gauge,
        );
        for (d, p) in devs.clone() {
            let (maj, min) = (d.major.to_string(), d.minor.to_string());
            f.sample(
                &[
                    ("device", d.name),
                    ("major", &maj),
                    ("minor", &min),
                    ("model", prop(p, "ID_MODEL")),
                    ("path", prop(p, "ID_PATH")),
                    ("revision", prop(p, "ID_REVISION")),
                    ("serial", prop(p, "ID_SERIAL_SHORT")),
                    ("wwn", prop(p, "ID_WWN")),
                ],
                1.0,
            );
        }
        for (i, (name, help, typ, mul)) in STATS.iter().enumerate() {
            if !disks.iter().any(|d| d.count > i) {
                continue;
            }
            let mut f = enc.family(name, help, *typ);
            for d in disks.iter().filter(|d| d.count > i) {
                let v = d.stats.get(i).copied().unwrap_or(0) as f64 * mul;
                f.sample(&[("device", d.name)], v);
            }
        }
        if props.iter().any(|p| !prop(p, "ID_FS_TYPE").is_empty()) {
            let mut f = enc.family(
                "node_disk_filesystem_info",
                "Info about disk filesystem.",
                MetricType::Gauge,
            );
            for (d, p) in devs.clone() {
                let t = prop(p, "ID_FS_TYPE");
                if t.is_empty() {
                    continue;
                }
                f.sample(
                    &[
                        ("device", d.name),
                        ("type", t),
                        ("usage", prop(p, "ID_FS_USAGE")),
                        ("uuid", prop(p, "ID_FS_UUID")),
                        ("version", prop(p, "ID_FS_VERSION")),
                    ],
                    1.0,
                );
            }
        }
        if props.iter().any(|p| !prop(p, "DM_NAME").is_empty()) {
            let mut f = enc.family(
                "node_disk_device_mapper_info",
                "Info about disk device mapper.",
                MetricType::Gauge,
            );
            for (d, p) in devs.clone() {
                let name = prop(p, "DM_NAME");
                if name.is_empty() {
                    continue;
                }
                f.sample(
                    &[
                        ("device", d.name),
                        ("lv_layer", prop(p, "DM_LV_LAYER")),
                        ("lv_name", prop(p, "DM_LV_NAME")),
                        ("name", name),
                        ("uuid", prop(p, "DM_UUID")),
                        ("vg_name", prop(p, "DM_VG_NAME")),
                    ],
                    1.0,
                );
            }
        }
        for (name, help, key) in ATA {
            // Only ATA disks, only when udev has the property and it is a number (1.5 logs and
            // skips a bad one).
            let vals: Vec<(&str, f64)> = devs
                .clone()
                .filter(|(_, p)| !prop(p, "ID_ATA").is_empty())
                .filter_map(|(d, p)| {
                    p.iter()
                        .rev()
                        .find(|(k, _)| *k == key)
                        .and_then(|(_, v)| v.parse::<f64>().ok())
                        .map(|v| (d.name, v))
                })
                .collect();
            if vals.is_empty() {
                continue;
            }
            let mut f = enc.family(name, help, MetricType::Gauge);
            for (dev, v) in vals {
                f.sample(&[("device", dev)], v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server fixture: vda and zram0 and loop0-7 captured on the x86_64 build VM (Debian
    /// 12, kernel 6.18, 20 columns), sda/sda1/nvme0n1/nvme0n1p1/dm-0/md0 lines constructed
    /// (see tests/fixtures/server/README.md), and an 18-column and a 14-column line.
    const SERVER: &str = include_str!("../../tests/fixtures/server/proc/diskstats");

    #[test]
    fn diskstats_server() {
        let d = parse(SERVER).unwrap();
        let vda = d.iter().find(|d| d.name == "vda").unwrap();
        assert_eq!((vda.major, vda.minor, vda.count), (254, 0, 17));
        assert_eq!(vda.stats[0], 38098);
        assert_eq!(vda.stats[16], 22);
        assert!(d.iter().any(|d| d.name == "dm-0"));
        assert!(d.iter().any(|d| d.count == 11), "a pre-4.18 line");
        assert!(d.iter().any(|d| d.count == 15), "a 4.18-5.4 line");
    }

    #[test]
    fn diskstats_default_exclude() {
        let p = Pattern::new(DEFAULT_EXCLUDE).unwrap();
        for ex in [
            "sda1",
            "loop0",
            "ram15",
            "nvme0n1p2",
            "vda3",
            "xvda1",
            "fd0",
        ] {
            assert!(p.is_match(ex), "{ex}");
        }
        for keep in [
            "sda",
            "nvme0n1",
            "dm-0",
            "md0",
            "zram0",
            "mmcblk0p1",
            "mmcblk0",
            "vda",
        ] {
            assert!(!p.is_match(keep), "{keep}");
        }
    }

    #[test]
    fn diskstats_malformed_and_short_lines() {
        assert!(parse("   8 0 sda 1 2 3 4 5 6 7 8 9 10 x\n").is_err());
        assert!(parse("   x 0 sda 1 2 3 4 5 6 7 8 9 10 11\n").is_err());
        assert!(parse("   8 0 sda 1 2 3 4 5 6 7 8 9 10 -11\n").is_err());
        // Shorter than 14 fields: skipped, as procfs does.
        assert!(parse("   8 0 sda 1 2 3 4\n\n8\n").unwrap().is_empty());
        let more = parse("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n").unwrap();
        assert_eq!(more[0].count, 17, "columns past 20 are ignored");
    }

    #[test]
    fn udev_properties() {
        let t = "S:disk/by-id/ata-X\nI:1234\nE:ID_ATA=1\nE:ID_MODEL=Samsung_SSD_870\nE:ID_MODEL=second\nG:systemd\nE:broken\nE:ID_FS_LABEL=a=b\n";
        let p = parse_udev(t);
        assert_eq!(prop(&p, "ID_ATA"), "1");
        assert_eq!(prop(&p, "ID_MODEL"), "second", "the later line wins");
        assert_eq!(prop(&p, "ID_FS_LABEL"), "a=b");
        assert_eq!(prop(&p, "ID_WWN"), "");
    }

    fn run(args: &[&str]) -> Result<String, String> {
        let tree = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/server");
        let specs = [
            flags(),
            vec![Spec::value("path.udev.data", Some("/run/udev/data"), "")],
        ]
        .concat();
        let mut argv = vec![format!("--path.udev.data={tree}/udev/data")];
        argv.extend(args.iter().map(|a| a.to_string()));
        let flags = Flags::parse("t", specs, argv).map_err(|e| format!("{e:?}"))?;
        let paths = Paths {
            procfs: format!("{tree}/proc").into(),
            sysfs: "/nonexistent".into(),
            rootfs: "/".into(),
        };
        let c = new(&paths, &flags)?;
        let mut enc = Encoder::new();
        c.update(&mut enc).map_err(|e| e.to_string())?;
        Ok(String::from_utf8(enc.into_bytes()).unwrap())
    }

    #[test]
    fn diskstats_flags_and_udev_labels() {
        let out = run(&[]).unwrap();
        assert!(out.contains("node_disk_info{device=\"nvme0n1\",major=\"259\",minor=\"0\",model=\"Samsung SSD 980 PRO 1TB\",path=\"pci-0000:01:00.0-nvme-1\",revision=\"5B2QGXA7\",serial=\"S5GXNF0R123456A\",wwn=\"eui.0025388b91234567\"} 1\n"), "{out}");
        assert!(out.contains("node_disk_ata_rotation_rate_rpm{device=\"sdb\"} 5400\n"));
        assert!(out.contains("node_disk_device_mapper_info{device=\"dm-0\",lv_layer=\"\",lv_name=\"root\",name=\"vg0-root\""));
        assert!(
            !out.contains("\"sda1\"") && !out.contains("\"loop0\""),
            "default exclude"
        );
        assert!(
            !out.contains("node_disk_flush_requests_total{device=\"mmcblk0\"}"),
            "14-column line"
        );
        // An include alone replaces the default exclude.
        let out = run(&["--collector.diskstats.device-include=^sda"]).unwrap();
        assert!(
            out.contains("{device=\"sda1\"}") && !out.contains("\"vda\""),
            "{out}"
        );
        // ID_ATA is set on sda1 but its udev data has no ATA attributes: no ata series for it.
        assert!(!out.contains("node_disk_ata_write_cache{device=\"sda1\"}"));
        let out = run(&[
            "--collector.diskstats.device-exclude=",
            "--collector.diskstats.device-include=^loop",
        ])
        .unwrap();
        assert!(out.contains("{device=\"loop7\"}") && !out.contains("\"sda\""));
        assert!(run(&[
            "--collector.diskstats.device-exclude=^x",
            "--collector.diskstats.device-include=^sda"
        ])
        .is_err());
        assert!(
            run(&["--collector.diskstats.device-exclude=(?i)sda"]).is_err(),
            "bad regexp"
        );
    }
}
