//! `netdev`: per-interface counters under node_exporter's legacy names,
//! `node_network_{receive,transmit}_<stat>_total{device}`. As node_exporter 1.5 does by
//! default (`--collector.netdev.netlink`), they come from an rtnetlink link dump
//! (`IFLA_STATS64`, [`crate::netlink::rtnl`]), which adds `receive_nohandler`; with
//! `--no-collector.netdev.netlink` they come from the 16 columns of `/proc/net/dev`
//! (proc_net(5)). The netlink numbers are folded the way the kernel folds them for
//! /proc/net/dev (drop includes missed, frame the length/over/crc errors, carrier the
//! aborted/heartbeat/window errors), as node_exporter does.

use std::path::PathBuf;
use std::time::Duration;

use super::pattern::Pattern;
use super::{read, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};
use crate::netlink::rtnl::Link;
use crate::netlink::socket::{Socket, NETLINK_ROUTE};

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
        Spec::switch(
            "collector.netdev.netlink",
            true,
            "Use netlink to gather stats instead of /proc/net/dev.",
        ),
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
        netlink: flags.switch("collector.netdev.netlink"),
        path: paths.proc("net/dev"),
        exclude: compile(exclude)?,
        include: compile(include)?,
    }))
}

struct NetDev {
    netlink: bool,
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

/// The 16 legacy counters of one link from its `IFLA_STATS64`, plus `receive_nohandler`
/// (netlink only), in [`STATS`] order.
pub fn from_stats64(l: &Link) -> [u64; 17] {
    let s = |f: &str| l.stat(f);
    let sum = |fs: &[&str]| fs.iter().fold(0u64, |a, f| a.wrapping_add(s(f)));
    [
        s("rx_bytes"),
        s("rx_packets"),
        s("rx_errors"),
        sum(&["rx_dropped", "rx_missed_errors"]),
        s("rx_fifo_errors"),
        sum(&[
            "rx_frame_errors",
            "rx_length_errors",
            "rx_over_errors",
            "rx_crc_errors",
        ]),
        s("rx_compressed"),
        s("multicast"),
        s("tx_bytes"),
        s("tx_packets"),
        s("tx_errors"),
        s("tx_dropped"),
        s("tx_fifo_errors"),
        s("collisions"),
        sum(&[
            "tx_carrier_errors",
            "tx_aborted_errors",
            "tx_heartbeat_errors",
            "tx_window_errors",
        ]),
        s("tx_compressed"),
        s("rx_nohandler"),
    ]
}

impl NetDev {
    fn wanted(&self, d: &str) -> bool {
        self.exclude.as_ref().map_or(true, |r| !r.is_match(d))
            && self.include.as_ref().map_or(true, |r| r.is_match(d))
    }

    /// Devices and their counters over rtnetlink; links without 64-bit statistics (kernels
    /// before 2.6.35) are left out, where node_exporter 1.5 panics.
    fn read_netlink(&self) -> Result<Vec<(String, Vec<u64>)>, Error> {
        let err = |e: crate::netlink::Error| Error::Other(format!("rtnetlink link dump: {e}"));
        let mut sock =
            Socket::open(NETLINK_ROUTE, Duration::from_secs(5)).map_err(|e| err(e.into()))?;
        let links = crate::netlink::rtnl::links(&mut sock).map_err(err)?;
        Ok(links
            .iter()
            .filter(|l| l.stats.is_some() && self.wanted(&l.name))
            .map(|l| (l.name.clone(), from_stats64(l).to_vec()))
            .collect())
    }
}

/// Writes the families: the 16 legacy ones, and `receive_nohandler` when the rows have it.
pub fn write(enc: &mut Encoder, devs: &[(String, Vec<u64>)], nohandler: bool) {
    let mut name = String::with_capacity(48);
    let mut help = String::with_capacity(64);
    let stats = STATS
        .iter()
        .copied()
        .chain(nohandler.then_some("receive_nohandler"));
    for (i, stat) in stats.enumerate() {
        name.clear();
        name.push_str("node_network_");
        name.push_str(stat);
        name.push_str("_total");
        help.clear();
        help.push_str("Network device statistic ");
        help.push_str(stat);
        help.push('.');
        let mut f = enc.family(&name, &help, MetricType::Counter);
        for (dev, vals) in devs {
            if let Some(v) = vals.get(i) {
                f.sample(&[("device", dev)], *v as f64);
            }
        }
    }
}

impl Collector for NetDev {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        if self.netlink {
            let devs = self.read_netlink()?;
            write(enc, &devs, true);
            return Ok(());
        }
        let text = read(&self.path)?;
        let devs = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        let devs: Vec<(String, Vec<u64>)> = devs
            .into_iter()
            .filter(|(d, _)| self.wanted(d))
            .map(|(d, v)| (d.to_string(), v.to_vec()))
            .collect();
        write(enc, &devs, false);
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
            let mut args = vec![
                format!("--path.procfs={fixture}"),
                "--no-collector.netdev.netlink".to_string(),
            ];
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
    fn stats64_folds_like_proc_net_dev() {
        let mut st = [0u64; 25];
        for (i, v) in st.iter_mut().enumerate() {
            *v = 1 << i;
        }
        let l = crate::netlink::rtnl::Link {
            index: 2,
            name: "eth0".into(),
            stats: Some(st),
        };
        let v = super::from_stats64(&l);
        let bit = |f: &str| {
            1u64 << crate::netlink::rtnl::STATS64_FIELDS
                .iter()
                .position(|x| *x == f)
                .unwrap()
        };
        assert_eq!(v[0], bit("rx_bytes"));
        assert_eq!(v[1], bit("rx_packets"));
        assert_eq!(v[3], bit("rx_dropped") | bit("rx_missed_errors"));
        assert_eq!(
            v[5],
            bit("rx_frame_errors")
                | bit("rx_length_errors")
                | bit("rx_over_errors")
                | bit("rx_crc_errors")
        );
        assert_eq!(v[7], bit("multicast"));
        assert_eq!(v[13], bit("collisions"));
        assert_eq!(
            v[14],
            bit("tx_carrier_errors")
                | bit("tx_aborted_errors")
                | bit("tx_heartbeat_errors")
                | bit("tx_window_errors")
        );
        assert_eq!(v[16], bit("rx_nohandler"));
    }

    /// The default source on this machine: the kernel's link dump, 17 families, `lo` in it.
    #[test]
    fn netdev_netlink_on_this_machine() {
        let flags = crate::flags::Flags::parse("t", super::flags(), Vec::<String>::new()).unwrap();
        let paths = crate::collector::Paths {
            procfs: "/nonexistent".into(),
            sysfs: "/nonexistent".into(),
            rootfs: "/".into(),
        };
        let c = super::new(&paths, &flags).unwrap();
        let mut enc = crate::expfmt::Encoder::new();
        c.update(&mut enc).unwrap();
        let out = String::from_utf8(enc.into_bytes()).unwrap();
        assert_eq!(out.matches("# TYPE ").count(), 17, "{out}");
        assert!(
            out.contains("node_network_receive_nohandler_total{device=\"lo\"} "),
            "{out}"
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
