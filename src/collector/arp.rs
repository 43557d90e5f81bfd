//! `arp`: `node_arp_entries{device}`, the number of rows of `/proc/net/arp` (proc_net(5)) per
//! interface, as node_exporter 1.5 counts them (incomplete entries too; the device is the last
//! column). `--collector.arp.device-include` / `-exclude` filter the devices.

use std::path::PathBuf;

use super::pattern::Pattern;
use super::{read, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

pub fn flags() -> Vec<Spec> {
    vec![
        Spec::value(
            "collector.arp.device-include",
            None,
            "Regexp of arp devices to include (mutually exclusive to device-exclude).",
        ),
        Spec::value(
            "collector.arp.device-exclude",
            None,
            "Regexp of arp devices to exclude (mutually exclusive to device-include).",
        ),
    ]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    let compile = |name: &str| {
        flags
            .value(name)
            .map(|s| Pattern::new(&s).map_err(|e| format!("bad regexp {s:?}: {e}")))
            .transpose()
    };
    // node_exporter 1.5 accepts both for arp (no mutual-exclusion check) and applies both.
    Ok(Box::new(Arp {
        path: paths.proc("net/arp"),
        include: compile("collector.arp.device-include")?,
        exclude: compile("collector.arp.device-exclude")?,
    }))
}

struct Arp {
    path: PathBuf,
    include: Option<Pattern>,
    exclude: Option<Pattern>,
}

/// Entries per device, sorted by device name.
pub fn parse(text: &str) -> Result<Vec<(&str, u32)>, String> {
    let mut out: Vec<(&str, u32)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        if cols.len() < 6 {
            return Err(format!("line {}: unexpected ARP table format", i + 1));
        }
        if cols.first() == Some(&"IP") {
            continue;
        }
        let dev = cols.last().copied().unwrap_or_default();
        match out.iter_mut().find(|(d, _)| *d == dev) {
            Some((_, n)) => *n = n.saturating_add(1),
            None => out.push((dev, 1)),
        }
    }
    out.sort_unstable();
    Ok(out)
}

impl Collector for Arp {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let text = read(&self.path)?;
        let devs = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        let mut f = enc.family(
            "node_arp_entries",
            "ARP entries by device",
            MetricType::Gauge,
        );
        for (dev, n) in devs {
            if self.exclude.as_ref().is_some_and(|r| r.is_match(dev))
                || self.include.as_ref().is_some_and(|r| !r.is_match(dev))
            {
                continue;
            }
            f.sample(&[("device", dev)], n as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    /// Captured on the x86_64 build VM (Debian 12, kernel 6.18).
    const X86_64_SERVER: &str = include_str!("../../tests/fixtures/server/proc/net/arp");

    #[test]
    fn arp_x86_64_server() {
        assert_eq!(parse(X86_64_SERVER).unwrap(), [("eth0", 1)]);
    }

    #[test]
    fn arp_counts_incomplete_entries_per_device() {
        let t = "\
IP address       HW type     Flags       HW address            Mask     Device
192.168.1.20     0x1         0x2         a4:5e:60:d1:22:01     *        br-lan
192.168.1.31     0x1         0x0         00:00:00:00:00:00     *        br-lan
203.0.113.1      0x1         0x2         00:1b:21:3c:9d:f8     *        eth0.2
";
        assert_eq!(parse(t).unwrap(), [("br-lan", 2), ("eth0.2", 1)]);
    }

    #[test]
    fn arp_malformed() {
        assert!(parse("10.0.0.1 0x1 0x2\n").is_err());
        assert!(
            parse("IP address HW type Flags HW address Mask Device\n\n").is_err(),
            "an empty line fails, as in 1.5"
        );
        assert!(parse("").unwrap().is_empty());
    }
}
