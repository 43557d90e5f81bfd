//! `snmp6`: the kernel's IPv6 MIB counters, `snmp6_<Field>{device}`, as OpenWrt's Lua
//! exporter names them: `/proc/net/snmp6` (the namespace's totals, `device="all"`) and every
//! `/proc/net/dev_snmp6/<device>` (one file per device with IPv6; `name value` lines, written
//! by the kernel's `net/ipv6/proc.c`, and read the same way by prometheus/procfs's
//! `net_dev_snmp6.go`). Off by default.
//!
//! Unlike the Lua collector, each family gets one `# TYPE` (it prints one per sample, which
//! strict parsers refuse), devices come from the directory rather than from ubus (so a
//! device without IPv6 is simply absent instead of failing the collector), and `ifIndex`,
//! an identifier rather than a counter, is left out.

use std::path::PathBuf;

use super::{read, Collector, Error, Paths};
use crate::expfmt::{is_metric_name, Encoder, MetricType};
use crate::flags::Flags;

/// Devices read per scrape at most (a router has tens).
const MAX_DEVICES: usize = 4096;

pub fn new(paths: &Paths, _flags: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Snmp6 {
        all: paths.proc("net/snmp6"),
        dir: paths.proc("net/dev_snmp6"),
    }))
}

struct Snmp6 {
    all: PathBuf,
    dir: PathBuf,
}

/// `(field, value)` of every `name value` line, in file order (blank lines skipped).
pub fn parse(text: &str) -> Result<Vec<(&str, u64)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut f = line.split_ascii_whitespace();
        let (Some(name), value, None) = (f.next(), f.next(), f.next()) else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(format!("line {}: want `name value`: {line:?}", i + 1));
        };
        let Some(value) = value else {
            return Err(format!("line {}: no value for {name}", i + 1));
        };
        let v = value
            .parse()
            .map_err(|_| format!("line {}: {name}: not a number: {value:?}", i + 1))?;
        out.push((name, v));
    }
    Ok(out)
}

/// Writes the families: one per field, in order of first appearance, one sample per device.
pub fn write(enc: &mut Encoder, devices: &[(String, Vec<(&str, u64)>)]) {
    let mut fields: Vec<&str> = Vec::new();
    for (_, rows) in devices {
        for (f, _) in rows {
            if *f != "ifIndex" && !fields.contains(f) {
                fields.push(f);
            }
        }
    }
    let mut name = String::with_capacity(48);
    for field in fields {
        name.clear();
        name.push_str("snmp6_");
        name.push_str(field);
        if !is_metric_name(&name) {
            continue;
        }
        let help = format!("IPv6 MIB counter {field} (/proc/net/snmp6, dev_snmp6).");
        let mut fam = enc.family(&name, &help, MetricType::Counter);
        for (dev, rows) in devices {
            if let Some((_, v)) = rows.iter().find(|(f, _)| *f == field) {
                fam.sample(&[("device", dev)], *v as f64);
            }
        }
    }
}

impl Collector for Snmp6 {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let perr = |path: &PathBuf| {
            let path = path.clone();
            move |msg| Error::Parse { path, msg }
        };
        // IPv6 disabled altogether: neither file exists, and there is nothing to report.
        let all = match read(&self.all) {
            Ok(t) => Some(t),
            Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let mut texts: Vec<(String, PathBuf, String)> = Vec::new();
        if let Some(t) = all {
            texts.push(("all".into(), self.all.clone(), t));
        }
        let mut names = Vec::new();
        match std::fs::read_dir(&self.dir) {
            Ok(rd) => {
                for e in rd.take(MAX_DEVICES) {
                    let e = e.map_err(|err| Error::Io {
                        path: self.dir.clone(),
                        err,
                    })?;
                    names.push(e.file_name().to_string_lossy().into_owned());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(Error::Io {
                    path: self.dir.clone(),
                    err,
                })
            }
        }
        names.sort();
        for n in names {
            let path = self.dir.join(&n);
            match read(&path) {
                Ok(t) => texts.push((n, path, t)),
                // The device went away since the directory was listed.
                Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let mut devices = Vec::with_capacity(texts.len());
        for (dev, path, text) in &texts {
            let rows = parse(text).map_err(perr(path))?;
            devices.push((dev.clone(), rows));
        }
        write(enc, &devices);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured on the build machine (Debian 12 KVM guest, kernel 6.18): `cat /proc/net/snmp6`.
    const ALL: &str = include_str!("../../tests/fixtures/node/proc/net/snmp6");
    const ETH0: &str = include_str!("../../tests/fixtures/node/proc/net/dev_snmp6/eth0");

    #[test]
    fn snmp6_x86_64_capture() {
        let all = parse(ALL).unwrap();
        assert_eq!(all[0].0, "Ip6InReceives");
        assert!(all.iter().any(|(f, _)| *f == "Udp6InDatagrams"));
        let eth0 = parse(ETH0).unwrap();
        assert_eq!(eth0[0].0, "ifIndex");
        assert!(
            !eth0.iter().any(|(f, _)| f.starts_with("Udp6")),
            "no UDP per device"
        );
        let mut enc = Encoder::new();
        write(
            &mut enc,
            &[("all".into(), all.clone()), ("eth0".into(), eth0.clone())],
        );
        let out = String::from_utf8(enc.into_bytes()).unwrap();
        assert_eq!(out.matches("# TYPE snmp6_Ip6InReceives counter").count(), 1);
        assert!(out.contains("snmp6_Ip6InReceives{device=\"all\"} "));
        assert!(out.contains("snmp6_Ip6InReceives{device=\"eth0\"} "));
        assert!(!out.contains("ifIndex"));
        crate::expfmt::parse_text(&out).unwrap();
    }

    #[test]
    fn snmp6_malformed() {
        assert!(parse("Ip6InReceives\n").is_err());
        assert!(parse("Ip6InReceives x\n").is_err());
        assert!(parse("Ip6InReceives 1 2\n").is_err());
        assert_eq!(
            parse("\nIcmp6OutType135                 \t7\n").unwrap(),
            [("Icmp6OutType135", 7)]
        );
    }
}
