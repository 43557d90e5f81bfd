//! `netclass`: link state and properties of every interface of `/sys/class/net/<iface>/`
//! (Documentation/ABI/testing/sysfs-class-net), as node_exporter 1.5's `netclass_linux.go`
//! reads them through procfs's `net_class.go`: `node_network_up`, `node_network_info` and
//! one gauge per numeric attribute.
//!
//! The trap: on a link that is down (and on virtual NICs) `speed`, `duplex` and `carrier`
//! exist but reading them fails with EINVAL; like procfs, that attribute is skipped (as are
//! ENOENT, EACCES and EOPNOTSUPP), never the collector. Only the attributes exported are read.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use super::pattern::Pattern;
use super::sysfs;
use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

/// File, exported suffix, counter?
const NUMBERS: [(&str, &str, bool); 17] = [
    ("addr_assign_type", "address_assign_type", false),
    ("carrier", "carrier", false),
    ("carrier_changes", "carrier_changes_total", true),
    ("carrier_up_count", "carrier_up_changes_total", true),
    ("carrier_down_count", "carrier_down_changes_total", true),
    ("dev_id", "device_id", false),
    ("dormant", "dormant", false),
    ("flags", "flags", false),
    ("ifindex", "iface_id", false),
    ("iflink", "iface_link", false),
    ("link_mode", "iface_link_mode", false),
    ("mtu", "mtu_bytes", false),
    ("name_assign_type", "name_assign_type", false),
    ("netdev_group", "net_dev_group", false),
    ("speed", "speed_bytes", false),
    ("tx_queue_len", "transmit_queue_length", false),
    ("type", "protocol_type", false),
];

/// Index of `speed` in [`NUMBERS`].
const SPEED: usize = 14;

/// Text attributes of node_network_info (with operstate), in label order after `device`.
const TEXTS: [&str; 5] = ["address", "broadcast", "duplex", "ifalias", "operstate"];

pub fn flags() -> Vec<Spec> {
    vec![
        Spec::value(
            "collector.netclass.ignored-devices",
            Some("^$"),
            "Regexp of net devices to ignore for netclass collector.",
        ),
        Spec::switch(
            "collector.netclass.ignore-invalid-speed",
            false,
            "Ignore devices where the speed is invalid. This will be the default behavior in 2.x.",
        ),
        Spec::switch(
            "collector.netclass.netlink",
            false,
            "Use netlink to gather stats instead of /proc/net/dev (not supported by promlet).",
        ),
        Spec::switch(
            "collector.netclass_rtnl.with-stats",
            false,
            "Expose the statistics when using netlink (not supported by promlet).",
        ),
    ]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    // Refused rather than silently served from sysfs: the netlink variant's families and
    // HELP texts differ.
    if flags.switch("collector.netclass.netlink") {
        return Err("--collector.netclass.netlink is not supported; sysfs is read".into());
    }
    let re = flags
        .value("collector.netclass.ignored-devices")
        .unwrap_or_else(|| "^$".into());
    Ok(Box::new(NetClass {
        dir: paths.sys("class/net"),
        ignored: Pattern::new(&re).map_err(|e| format!("bad regexp {re:?}: {e}"))?,
        ignore_invalid_speed: flags.switch("collector.netclass.ignore-invalid-speed"),
        held: Mutex::new(Vec::new()),
    }))
}

struct NetClass {
    dir: PathBuf,
    ignored: Pattern,
    ignore_invalid_speed: bool,
    /// The interfaces whose attributes are held open (see [`sysfs::HeldAttrs`]), by name.
    held: Mutex<Vec<(String, sysfs::HeldAttrs)>>,
}

/// At most this many attribute descriptors held, over all interfaces (23 per interface: the
/// attributes and `uevent`); interfaces past it are read by path, as before. The server
/// keeps this many descriptors out of its connection cap (`collector::HELD_FDS`).
pub const HELD_MAX: usize = 192;

/// Every attribute read, in [`NUMBERS`] then [`TEXTS`] order, then `uevent` (built at
/// compile time: it is the same for every interface and scrape).
const ATTRS: [&str; NUMBERS.len() + TEXTS.len() + 1] = {
    let mut a = [""; NUMBERS.len() + TEXTS.len() + 1];
    let mut i = 0;
    while i < NUMBERS.len() {
        a[i] = NUMBERS[i].0;
        i += 1;
    }
    let mut j = 0;
    while j < TEXTS.len() {
        a[NUMBERS.len() + j] = TEXTS[j];
        j += 1;
    }
    a[NUMBERS.len() + TEXTS.len()] = "uevent";
    a
};

/// True if the held directory still is interface `name`: its `uevent` says
/// `INTERFACE=<name>` (after a rename the held directory belongs to the new name).
fn still_named(held: &sysfs::HeldAttrs, name: &str) -> bool {
    let Some(Ok(uevent)) = held.read(NUMBERS.len() + TEXTS.len()) else {
        return false;
    };
    uevent
        .lines()
        .any(|l| l.strip_prefix("INTERFACE=") == Some(name))
}

/// Errors that mean "no such attribute on this interface now".
const SKIPPED: [i32; 4] = [libc::ENOENT, libc::EACCES, libc::EOPNOTSUPP, libc::EINVAL];

/// One interface: its numbers (NUMBERS order) and texts (TEXTS order, "" when absent).
type Iface = (String, [Option<i64>; 17], [String; 5]);

impl NetClass {
    /// One interface's attributes from `read` (attribute index to its text, `None` when
    /// absent); `path` names the directory in errors.
    fn iface_from(
        name: String,
        path: &std::path::Path,
        read: impl Fn(usize) -> Option<std::io::Result<String>>,
    ) -> Result<Iface, Error> {
        let files = &ATTRS;
        let text = |i: usize| -> Result<Option<String>, Error> {
            match read(i) {
                None => Ok(None),
                Some(Ok(s)) => Ok(Some(s)),
                Some(Err(e)) if sysfs::errno_in(&e, &SKIPPED) => Ok(None),
                Some(Err(e)) => Err(sysfs::io_err(&path.join(files[i]), e)),
            }
        };
        let mut nums = [None; 17];
        for (i, slot) in nums.iter_mut().enumerate() {
            if let Some(s) = text(i)? {
                let v = sysfs::parse_int_base0(&s).ok_or_else(|| {
                    sysfs::parse_err(path.join(files[i]), format!("not an integer: {s:?}"))
                })?;
                *slot = Some(v);
            }
        }
        let mut texts: [String; 5] = Default::default();
        for (i, slot) in texts.iter_mut().enumerate() {
            if let Some(s) = text(NUMBERS.len() + i)? {
                *slot = s;
            }
        }
        Ok((name, nums, texts))
    }

    /// Reads interface `name`, through its held attributes when they are still its own,
    /// holding them for the next scrape when there is room. None when the interface went
    /// away after the listing.
    fn read_iface(
        &self,
        name: String,
        held: &mut Vec<(String, sysfs::HeldAttrs)>,
        next: &mut Vec<(String, sysfs::HeldAttrs)>,
    ) -> Result<Option<Iface>, Error> {
        let path = self.dir.join(&name);
        if let Some(i) = held.iter().position(|(n, _)| *n == name) {
            let (_, attrs) = held.swap_remove(i);
            if still_named(&attrs, &name) {
                // A failing read (the device removed mid-scrape) falls back to the path.
                if let Ok(iface) = Self::iface_from(name.clone(), &path, |i| attrs.read(i)) {
                    next.push((name, attrs));
                    return Ok(Some(iface));
                }
            }
        }
        let dir = match sysfs::Dir::open(&path) {
            Ok(d) => d,
            Err(e) if sysfs::errno_in(&e, &[libc::ENOENT]) => return Ok(None),
            Err(e) => return Err(sysfs::io_err(&path, e)),
        };
        let files = &ATTRS;
        let in_use: usize = next.iter().map(|(_, a)| a.fds()).sum();
        if dir.is_sysfs() && in_use + files.len() <= HELD_MAX {
            if let Ok(attrs) = sysfs::HeldAttrs::open(&dir, files, &SKIPPED) {
                let iface = Self::iface_from(name.clone(), &path, |i| attrs.read(i))?;
                next.push((name, attrs));
                return Ok(Some(iface));
            }
        }
        let iface = Self::iface_from(name, &path, |i| Some(dir.read_attr(files[i])))?;
        Ok(Some(iface))
    }
}

impl Collector for NetClass {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let entries = sysfs::list_class(&self.dir, &[libc::ENOENT, libc::EACCES])?;
        let mut ifaces = Vec::new();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = Vec::new();
        for (name, ft) in entries {
            // bonding_masters is a regular file among the interface links.
            if ft.is_file() || self.ignored.is_match(&name) {
                continue;
            }
            ifaces.extend(self.read_iface(name, &mut held, &mut next)?);
        }
        // Interfaces that are gone (or failed) are closed here.
        *held = next;
        drop(held);
        let mut f = enc.family(
            "node_network_up",
            "Value is 1 if operstate is 'up', 0 otherwise.",
            MetricType::Gauge,
        );
        for (dev, _, t) in &ifaces {
            f.sample(&[("device", dev)], if t[4] == "up" { 1.0 } else { 0.0 });
        }
        let mut f = enc.family(
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
            MetricType::Gauge,
        );
        for (dev, _, t) in &ifaces {
            f.sample(
                &[
                    ("address", &t[0]),
                    ("broadcast", &t[1]),
                    ("device", dev),
                    ("duplex", &t[2]),
                    ("ifalias", &t[3]),
                    ("operstate", &t[4]),
                ],
                1.0,
            );
        }
        let mut name = String::with_capacity(48);
        let mut help = String::with_capacity(64);
        for (i, (_, suffix, counter)) in NUMBERS.iter().enumerate() {
            let value = |n: &[Option<i64>; 17]| -> Option<f64> {
                let v = n[i]?;
                if i == SPEED {
                    // Mbit/s to bytes/s; an unknown speed reads -1 and 1.5 exports -125000
                    // unless told to drop it.
                    if v < 0 && self.ignore_invalid_speed {
                        return None;
                    }
                    return Some(v.saturating_mul(125_000) as f64);
                }
                Some(v as f64)
            };
            if !ifaces.iter().any(|(_, n, _)| value(n).is_some()) {
                continue;
            }
            name.clear();
            name.push_str("node_network_");
            name.push_str(suffix);
            help.clear();
            help.push_str("Network device property: ");
            help.push_str(suffix);
            let typ = if *counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let mut f = enc.family(&name, &help, typ);
            for (dev, n, _) in &ifaces {
                if let Some(v) = value(n) {
                    f.sample(&[("device", dev)], v);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn einval_is_a_missing_attribute() {
        let einval = std::io::Error::from_raw_os_error(libc::EINVAL);
        assert!(sysfs::errno_in(&einval, &SKIPPED));
        let eio = std::io::Error::from_raw_os_error(libc::EIO);
        assert!(!sysfs::errno_in(&eio, &SKIPPED));
    }

    /// The VM's real virtio NIC: `speed` reads -1, `duplex` "unknown"; a down ifb's
    /// `speed` fails with EINVAL. Both must keep the collector working.
    #[test]
    fn this_machine_never_fails() {
        let paths = Paths {
            procfs: "/proc".into(),
            sysfs: "/sys".into(),
            rootfs: "/".into(),
        };
        let flags = Flags::parse("t", flags(), Vec::<String>::new()).unwrap();
        let c = new(&paths, &flags).unwrap();
        let mut enc = Encoder::new();
        c.update(&mut enc).unwrap();
        let out = String::from_utf8(enc.into_bytes()).unwrap();
        assert!(out.contains("node_network_up{device=\"lo\"}"), "{out}");
    }

    fn this_machine() -> NetClass {
        let flags = Flags::parse("t", flags(), Vec::<String>::new()).unwrap();
        NetClass {
            dir: "/sys/class/net".into(),
            ignored: Pattern::new("^$").unwrap(),
            ignore_invalid_speed: flags.switch("collector.netclass.ignore-invalid-speed"),
            held: Mutex::new(Vec::new()),
        }
    }

    /// The samples that do not move between two reads a moment apart.
    fn steady(c: &NetClass) -> String {
        let mut enc = Encoder::new();
        c.update(&mut enc).unwrap();
        let out = String::from_utf8(enc.into_bytes()).unwrap();
        let keep = [
            "_up{",
            "_info{",
            "_mtu_bytes{",
            "_iface_id{",
            "_flags{",
            "_protocol_type{",
        ];
        out.lines()
            .filter(|l| keep.iter().any(|k| l.contains(k)))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// The held attributes give what a read by path gives, and are used: after the first
    /// scrape every interface of this machine is held (sysfs), and the second scrape reads the
    /// same through them.
    #[test]
    fn held_attributes_read_what_the_paths_read() {
        let c = this_machine();
        let first = steady(&c);
        let names: Vec<String> = c
            .held
            .lock()
            .unwrap()
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        assert!(names.contains(&"lo".to_string()), "{names:?}");
        assert_eq!(steady(&c), first);
        // A fresh collector (nothing held) agrees too.
        assert_eq!(steady(&this_machine()), first);
    }

    /// After a rename the held directory belongs to another name: `uevent` tells, and the
    /// interface is read by path again. Simulated by filing lo's held attributes under the
    /// name of another interface.
    #[test]
    fn held_attributes_of_a_renamed_interface_are_not_trusted() {
        let c = this_machine();
        let first = steady(&c);
        {
            let mut held = c.held.lock().unwrap();
            let lo = held.iter().position(|(n, _)| n == "lo").unwrap();
            let other = held.iter().position(|(n, _)| n != "lo");
            let Some(other) = other else {
                // Only lo on this machine: lo's attributes under a name that is not lo's.
                held[lo].0 = "not-lo".into();
                drop(held);
                assert_eq!(steady(&c), first);
                return;
            };
            let name = held[other].0.clone();
            held[lo].0 = name.clone();
            held[other].0 = "lo".into();
            assert!(!still_named(&held[lo].1, &name));
        }
        assert_eq!(steady(&c), first);
    }
}
