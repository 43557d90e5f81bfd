//! `btrfs`: Btrfs filesystems from `/sys/fs/btrfs/<uuid>/` (Documentation/ABI/testing/
//! sysfs-fs-btrfs): label, global reserve, per block group type (data, metadata, system) the
//! reserved bytes and each RAID profile's used and allocated bytes, and the member devices'
//! sizes, as node_exporter 1.5's `node_btrfs_*` gauges when it reads sysfs.
//!
//! 1.5 also asks the kernel by ioctl (BTRFS_IOC_FS_INFO / DEV_INFO / GET_STATS, needing root
//! and the mount point) for per-device error counters and unused bytes; promlet does not: it
//! gives what 1.5 gives when those ioctls fail (not root), so `node_btrfs_device_errors_total`
//! and `node_btrfs_device_unused_bytes` are absent and `device_size_bytes` has no
//! `btrfs_dev_uuid` label. No `/sys/fs/btrfs`: no series, success.

use std::path::{Path, PathBuf};

use super::{read, sysfs, write_family, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

const TYPES: [&str; 3] = ["data", "metadata", "system"];

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Btrfs {
        dir: paths.sys("fs/btrfs"),
    }))
}

struct Btrfs {
    dir: PathBuf,
}

/// How much raw space one byte of a profile takes on `devices` devices (0 when unknown).
pub fn allocation_ratio(profile: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match profile {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid5" => n / (n - 1.0),
        "raid6" => n / (n - 2.0),
        _ => 0.0,
    }
}

/// A sysfs number as procfs reads it: text that is not a decimal u64 counts as 0.
pub fn parse_value(text: &str) -> u64 {
    text.trim().parse().unwrap_or(0)
}

/// A file's trimmed text; "" when it does not exist.
fn attr(path: &Path) -> Result<String, Error> {
    match read(path) {
        Ok(t) => Ok(t.trim().to_string()),
        Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
            Ok(String::new())
        }
        Err(e) => Err(e),
    }
}

struct Layout {
    name: String,
    used: u64,
    total: u64,
}

struct Fs {
    uuid: String,
    label: String,
    global_rsv: u64,
    devices: Vec<(String, u64)>,
    /// Per block group type: bytes reserved and the profiles.
    groups: Vec<(u64, Vec<Layout>)>,
}

/// One block group type's directory. procfs keeps only the last type's error (it overwrites
/// the previous ones), so in 1.5 a broken `data` or `metadata` directory loses its profiles
/// while a broken `system` one fails the collector: `fatal` says which this is.
fn read_group(dir: &Path, fatal: bool) -> Result<(u64, Vec<Layout>), Error> {
    let res = (|| {
        let reserved = parse_value(&attr(&dir.join("bytes_reserved"))?);
        let names = sysfs::names(dir)?.ok_or_else(|| Error::Io {
            path: dir.to_path_buf(),
            err: std::io::ErrorKind::NotFound.into(),
        })?;
        let mut layouts = Vec::new();
        for name in names {
            let p = dir.join(&name);
            if !p.is_dir() {
                continue;
            }
            layouts.push(Layout {
                used: parse_value(&attr(&p.join("used_bytes"))?),
                total: parse_value(&attr(&p.join("total_bytes"))?),
                name,
            });
        }
        Ok((reserved, layouts))
    })();
    match res {
        Err(e) if fatal => Err(e),
        Err(_) => Ok((
            parse_value(&attr(&dir.join("bytes_reserved")).unwrap_or_default()),
            Vec::new(),
        )),
        ok => ok,
    }
}

fn read_fs(dir: &Path, name: &str) -> Result<Fs, Error> {
    let base = dir.join(name);
    let devices = sysfs::names(&base.join("devices")).ok().flatten();
    let features = sysfs::names(&base.join("features")).ok().flatten();
    let mut devs = Vec::new();
    for d in devices.iter().flatten() {
        let size = parse_value(&attr(&base.join("devices").join(d).join("size"))?);
        devs.push((d.clone(), size.wrapping_mul(512)));
    }
    // procfs stops reading numbers of the filesystem's own directory once listing devices/
    // or features/ failed: the global reserve then reads 0.
    let global_rsv = if devices.is_some() && features.is_some() {
        parse_value(&attr(&base.join("allocation/global_rsv_size"))?)
    } else {
        0
    };
    let uuid = attr(&base.join("metadata_uuid"))?;
    let mut groups = Vec::with_capacity(TYPES.len());
    for t in TYPES {
        groups.push(read_group(&base.join("allocation").join(t), t == "system")?);
    }
    Ok(Fs {
        uuid: if uuid.is_empty() {
            name.to_string()
        } else {
            uuid
        },
        label: attr(&base.join("label"))?,
        global_rsv,
        devices: devs,
        groups,
    })
}

impl Collector for Btrfs {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let Some(names) = sysfs::names(&self.dir)? else {
            return Ok(());
        };
        // Filesystems are the UUID-named entries (1.5 globs "*-*"), not features/.
        let all = names
            .iter()
            .filter(|n| n.contains('-'))
            .map(|n| read_fs(&self.dir, n))
            .collect::<Result<Vec<_>, _>>()?;
        if all.is_empty() {
            return Ok(());
        }
        const G: MetricType = MetricType::Gauge;
        let mut f = enc.family("node_btrfs_info", "Filesystem information", G);
        for fs in &all {
            f.sample(&[("label", &fs.label), ("uuid", &fs.uuid)], 1.0);
        }
        let mut f = enc.family(
            "node_btrfs_global_rsv_size_bytes",
            "Size of global reserve.",
            G,
        );
        for fs in &all {
            f.sample(&[("uuid", &fs.uuid)], fs.global_rsv as f64);
        }
        let mut f = enc.family(
            "node_btrfs_reserved_bytes",
            "Amount of space reserved for a data type",
            G,
        );
        for fs in &all {
            for (t, (reserved, _)) in TYPES.iter().zip(&fs.groups) {
                f.sample(
                    &[("block_group_type", t), ("uuid", &fs.uuid)],
                    *reserved as f64,
                );
            }
        }
        type Get = fn(&Layout, usize) -> f64;
        #[rustfmt::skip]
        let per_layout: [(&str, &str, Get); 3] = [
            ("node_btrfs_used_bytes", "Amount of used space by a layout/data type", |l, _| l.used as f64),
            ("node_btrfs_size_bytes", "Amount of space allocated for a layout/data type", |l, _| l.total as f64),
            ("node_btrfs_allocation_ratio", "Data allocation ratio for a layout/data type", |l, n| allocation_ratio(&l.name, n)),
        ];
        for (name, help, get) in per_layout {
            write_family(enc, name, help, G, |add| {
                for fs in &all {
                    for (t, (_, layouts)) in TYPES.iter().zip(&fs.groups) {
                        for l in layouts {
                            add(
                                &[
                                    ("block_group_type", t),
                                    ("mode", &l.name),
                                    ("uuid", &fs.uuid),
                                ],
                                get(l, fs.devices.len()),
                            );
                        }
                    }
                }
            });
        }
        write_family(
            enc,
            "node_btrfs_device_size_bytes",
            "Size of a device that is part of the filesystem.",
            G,
            |add| {
                for fs in &all {
                    for (d, size) in &fs.devices {
                        add(&[("device", d), ("uuid", &fs.uuid)], *size as f64);
                    }
                }
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btrfs_allocation_ratios() {
        assert_eq!(allocation_ratio("single", 1), 1.0);
        assert_eq!(allocation_ratio("raid1", 2), 2.0);
        assert_eq!(allocation_ratio("raid5", 3), 1.5);
        assert_eq!(allocation_ratio("raid6", 3), 3.0);
        assert_eq!(
            allocation_ratio("raid1c3", 3),
            0.0,
            "profiles 1.5 does not know"
        );
    }

    #[test]
    fn btrfs_values_as_procfs_reads_them() {
        assert_eq!(parse_value("16777216\n"), 16777216);
        assert_eq!(parse_value("junk"), 0);
        assert_eq!(parse_value(""), 0);
    }
}
