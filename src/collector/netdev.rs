//! `netdev`: the 16 per-interface counters of `/proc/net/dev` (proc_net(5)) under
//! node_exporter's legacy names, `node_network_{receive,transmit}_<stat>_total{device}`.
//! node_exporter reads the same numbers over netlink by default; with
//! `--no-collector.netdev.netlink` it reads this file, and both give these 16 names.

use std::path::PathBuf;

use super::pattern::Pattern;
use super::{read, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

/// Column order of `/proc/net/dev`: 8 receive then 8 transmit counters.
pub const STATS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

pub fn flags() -> Vec<Spec> {
    vec![
        Spec::value(
            "collector.netdev.device-exclude",
            None,
            "Regexp of net devices to exclude (mutually exclusive to device-include).",
        ),
        Spec::value(
            "collector.netdev.device-include",
            None,
            "Regexp of net devices to include (mutually exclusive to device-exclude).",
        ),
    ]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    let exclude = flags.value("collector.netdev.device-exclude");
    let include = flags.value("collector.netdev.device-include");
    if exclude.is_some() && include.is_some() {
        return Err("device-exclude and device-include are mutually exclusive".into());
    }
    let compile = |s: Option<String>| {
        s.map(|s| Pattern::new(&s).map_err(|e| format!("bad regexp {s:?}: {e}")))
            .transpose()
    };
    Ok(Box::new(NetDev {
        path: paths.proc("net/dev"),
        exclude: compile(exclude)?,
        include: compile(include)?,
    }))
}

struct NetDev {
    path: PathBuf,
    exclude: Option<Pattern>,
    include: Option<Pattern>,
}

/// Every interface and its 16 counters, in file order.
pub fn parse(text: &str) -> Result<Vec<(&str, [u64; 16])>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    // Two header lines: "Inter-|   Receive ..." and " face |bytes ...".
    for _ in 0..2 {
        match lines.next() {
            Some((_, l)) if l.contains('|') => {}
            _ => return Err("missing header".into()),
        }
    }
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let (dev, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("line {n}: no ':' in {line:?}"))?;
        let dev = dev.trim();
        if dev.is_empty() {
            return Err(format!("line {n}: empty device name"));
        }
        let mut vals = [0u64; 16];
        let mut count = 0;
        for f in rest.split_ascii_whitespace() {
            let slot = vals
                .get_mut(count)
                .ok_or_else(|| format!("line {n}: {dev} has more than 16 columns"))?;
            *slot = f
                .parse()
                .map_err(|_| format!("line {n}: {dev}: not a number: {f:?}"))?;
            count += 1;
        }
        if count != 16 {
            return Err(format!("line {n}: {dev} has {count} columns, want 16"));
        }
        out.push((dev, vals));
    }
    Ok(out)
}

impl Collector for NetDev {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let text = read(&self.path)?;
        let mut devs = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        devs.retain(|(d, _)| {
            self.exclude.as_ref().map_or(true, |r| !r.is_match(d))
                && self.include.as_ref().map_or(true, |r| r.is_match(d))
        });
        let mut name = String::with_capacity(48);
        let mut help = String::with_capacity(64);
        for (i, stat) in STATS.iter().enumerate() {
            name.clear();
            name.push_str("node_network_");
            name.push_str(stat);
            name.push_str("_total");
            help.clear();
            help.push_str("Network device statistic ");
            help.push_str(stat);
            help.push('.');
            let mut f = enc.family(&name, &help, MetricType::Counter);
            for (dev, vals) in &devs {
                f.sample(&[("device", dev)], vals[i] as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    /// Captured on this build machine (Debian 12 x86_64 KVM guest): `cat /proc/net/dev`.
    const X86_64_SERVER: &str = include_str!("../../tests/fixtures/node/captures/x86_64-net-dev");

    /// Xiaomi router stock firmware (OpenWrt-based, MIPS), posted in
    /// https://github.com/acecilia/OpenWRTInvasion/issues/116 (six of the interfaces of its
    /// `/proc/net/dev`; tunl0 and gre0 left out).
    const OPENWRT_XIAOMI: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
  ifb0:    1950      15    0    0    0     0          0         0        0       0    0   15    0     0       0          0
   wl2:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
    lo: 11093684   45111    0    0    0     0          0         0 11093684   45111    0    0    0     0       0          0
   wl1: 14731065  105902  300    0    0     0          0      1038 25324368   69840    0    0    0     0       0          0
gretap0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth1: 24179742   71202    0   10    0     0          0         0 17084883   68262    0    0    0     0       0          0
";

    #[test]
    fn netdev_x86_64_server() {
        let d = parse(X86_64_SERVER).unwrap();
        assert_eq!(d.len(), X86_64_SERVER.lines().count() - 2);
        assert_eq!(d[0].0, "lo");
        assert_eq!(d[0].1[0], d[0].1[8], "lo receives what it sends");
    }

    #[test]
    fn netdev_openwrt_xiaomi() {
        let d = parse(OPENWRT_XIAOMI).unwrap();
        let names: Vec<&str> = d.iter().map(|x| x.0).collect();
        assert_eq!(names, ["ifb0", "wl2", "lo", "wl1", "gretap0", "eth1"]);
        assert_eq!(d[0].1[11], 15, "ifb0 transmit_drop");
        assert_eq!(d[3].1[2], 300, "wl1 receive_errs");
        assert_eq!(d[3].1[7], 1038, "wl1 receive_multicast");
        assert_eq!(d[5].1[3], 10, "eth1 receive_drop");
    }

    #[test]
    fn netdev_big_counter_touches_the_colon() {
        // Once the byte counter is wide enough the kernel prints no space after the colon.
        let t = "a|\nb|\n  eth0:123456789012 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n";
        assert_eq!(parse(t).unwrap()[0].1[0], 123456789012);
    }

    #[test]
    fn device_exclude_and_include_flags() {
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/node/proc");
        let run = |flag: &str| {
            let mut args = vec![format!("--path.procfs={fixture}")];
            args.push(flag.to_string());
            let flags = crate::flags::Flags::parse(
                "t",
                [
                    super::flags(),
                    vec![crate::flags::Spec::value("path.procfs", None, "")],
                ]
                .concat(),
                args,
            )
            .unwrap();
            let paths = crate::collector::Paths {
                procfs: fixture.into(),
                sysfs: "/nonexistent".into(),
                rootfs: "/".into(),
            };
            let c = super::new(&paths, &flags).unwrap();
            let mut enc = crate::expfmt::Encoder::new();
            c.update(&mut enc).unwrap();
            String::from_utf8(enc.into_bytes()).unwrap()
        };
        let out = run("--collector.netdev.device-exclude=^(lo|wl[0-9]+)$");
        assert!(
            out.contains("node_network_receive_bytes_total{device=\"eth1\"} 24179742\n"),
            "{out}"
        );
        assert!(
            !out.contains("device=\"lo\"") && !out.contains("device=\"wl1\""),
            "{out}"
        );
        let out = run("--collector.netdev.device-include=^eth");
        assert!(
            out.contains("device=\"eth1\"") && !out.contains("device=\"ifb0\""),
            "{out}"
        );
        let flags = crate::flags::Flags::parse(
            "t",
            super::flags(),
            ["--collector.netdev.device-include=(unclosed"],
        )
        .unwrap();
        let paths = crate::collector::Paths {
            procfs: fixture.into(),
            sysfs: "/".into(),
            rootfs: "/".into(),
        };
        assert!(
            super::new(&paths, &flags).is_err(),
            "bad regexp refused at start"
        );
    }

    #[test]
    fn netdev_malformed_and_truncated() {
        assert!(parse("").is_err(), "no header");
        assert!(parse("Inter-|\n").is_err(), "one header line");
        let head = "Inter-|\n face |\n";
        assert_eq!(parse(head).unwrap().len(), 0, "no interfaces is valid");
        assert!(parse(&format!("{head}eth0 1 2 3\n")).is_err(), "no colon");
        assert!(
            parse(&format!("{head}eth0: 1 2 3\n")).is_err(),
            "truncated row"
        );
        assert!(parse(&format!("{head}: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n")).is_err());
        assert!(parse(&format!(
            "{head}eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n"
        ))
        .is_err());
        assert!(parse(&format!(
            "{head}eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"
        ))
        .is_err());
    }
}
