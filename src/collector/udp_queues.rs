//! `udp_queues`: the bytes queued in UDP sockets, summed from the `tx_queue:rx_queue` column of
//! `/proc/net/udp` and `/proc/net/udp6` (proc_net(5)), as node_exporter 1.5's gauge
//! `node_udp_queues{queue="tx|rx",ip="v4|v6"}`. A missing file (no IPv6) is skipped.

use std::path::PathBuf;

use super::{read_optional, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(UdpQueues {
        v4: paths.proc("net/udp"),
        v6: paths.proc("net/udp6"),
    }))
}

struct UdpQueues {
    v4: PathBuf,
    v6: PathBuf,
}

fn hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn addr_port(f: &str) -> bool {
    f.split_once(':')
        .is_some_and(|(a, p)| hex(a) && a.len() % 2 == 0 && hex(p) && !p.contains(':'))
}

/// tx and rx queue bytes summed over the socket lines (the first line is the header). Each
/// line is checked as procfs checks it: at least 10 columns, `sl:`, two `addr:port`, hex state,
/// `tx:rx` in hex, decimal uid and inode.
pub fn parse(text: &str) -> Result<(u64, u64), String> {
    let (mut tx, mut rx) = (0u64, 0u64);
    for (i, line) in text.lines().enumerate().skip(1) {
        let n = i + 1;
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 10 {
            return Err(format!("line {n}: {} columns, want at least 10", f.len()));
        }
        let bad = |what: &str| format!("line {n}: bad {what} field");
        let sl_ok = f[0]
            .split_once(':')
            .is_some_and(|(a, b)| b.is_empty() && a.parse::<u64>().is_ok());
        if !sl_ok {
            return Err(bad("sl"));
        }
        if !addr_port(f[1]) || !addr_port(f[2]) {
            return Err(bad("address"));
        }
        if !hex(f[3]) {
            return Err(bad("st"));
        }
        let (t, r) = f[4].split_once(':').ok_or_else(|| bad("queue"))?;
        let t = u64::from_str_radix(t, 16).map_err(|_| bad("tx_queue"))?;
        let r = u64::from_str_radix(r, 16).map_err(|_| bad("rx_queue"))?;
        if f[7].parse::<u64>().is_err() {
            return Err(bad("uid"));
        }
        if f[9].parse::<u64>().is_err() {
            return Err(bad("inode"));
        }
        tx = tx.wrapping_add(t);
        rx = rx.wrapping_add(r);
    }
    Ok((tx, rx))
}

impl Collector for UdpQueues {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let mut got = Vec::with_capacity(2);
        for (ip, path) in [("v4", &self.v4), ("v6", &self.v6)] {
            let Some(text) = read_optional(path)? else {
                continue;
            };
            let q = parse(&text).map_err(|msg| Error::Parse {
                path: path.clone(),
                msg,
            })?;
            got.push((ip, q));
        }
        if got.is_empty() {
            return Ok(());
        }
        let mut f = enc.family(
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
            MetricType::Gauge,
        );
        for (ip, (tx, rx)) in got {
            f.sample(&[("ip", ip), ("queue", "rx")], rx as f64);
            f.sample(&[("ip", ip), ("queue", "tx")], tx as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    /// Captured on the x86_64 build VM (Debian 12, kernel 6.18) plus constructed socket lines
    /// (proc_net(5) layout: a resolver on 127.0.0.53:53 with 768 bytes waiting to be read, a
    /// DHCP client, an NTP socket).
    const V4: &str = include_str!("../../tests/fixtures/server/proc/net/udp");
    const V6: &str = include_str!("../../tests/fixtures/server/proc/net/udp6");

    #[test]
    fn udp_queues_server() {
        assert_eq!(parse(V4).unwrap(), (0x40, 0x300));
        assert_eq!(parse(V6).unwrap(), (0, 0x1c0));
    }

    #[test]
    fn udp_queues_header_only_is_zero() {
        let h = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";
        assert_eq!(parse(h).unwrap(), (0, 0));
    }

    #[test]
    fn udp_queues_malformed() {
        let h = "header\n";
        let ok = "  1: 3500007F:0035 00000000:0000 07 00000000:00000300 00:00000000 00000000   101        0 19913 2 0000000000000000 0";
        assert!(parse(&format!("{h}{ok}\n")).is_ok());
        assert!(
            parse(&format!("{h}  1: 3500007F:0035 00000000:0000 07\n")).is_err(),
            "short"
        );
        assert!(parse(&format!(
            "{h}{}\n",
            ok.replace("00000000:00000300", "0000000000000300")
        ))
        .is_err());
        assert!(parse(&format!("{h}{}\n", ok.replace("00000300", "0000030g"))).is_err());
        assert!(parse(&format!("{h}{}\n", ok.replace("  1:", "  x:"))).is_err());
        assert!(parse(&format!("{h}\n")).is_err(), "empty line");
    }
}
