//! `ipvs`: IP Virtual Server totals from `/proc/net/ip_vs_stats` and per-backend state from
//! `/proc/net/ip_vs` (both printed by the kernel's net/netfilter/ipvs/ip_vs_ctl.c, addresses
//! and counters in hex), as node_exporter 1.5's `node_ipvs_*` families.
//! `--collector.ipvs.backend-labels` picks the backend labels; backends that then share a
//! label set are summed, as in 1.5. No `ip_vs_stats` (module not loaded): no data, success 0.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use super::{read, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

/// Every backend label, in the order 1.5 gives them whatever order the flag lists them in.
pub const LABELS: [&str; 6] = [
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
    "proto",
    "local_mark",
];

pub fn flags() -> Vec<Spec> {
    vec![Spec::value(
        "collector.ipvs.backend-labels",
        Some("local_address,local_port,remote_address,remote_port,proto,local_mark"),
        "Comma separated list for IPVS backend stats labels.",
    )]
}

/// The flag's label list as indexes into [`LABELS`]; unknown names are refused.
pub fn parse_labels(s: &str) -> Result<Vec<usize>, String> {
    let wanted: Vec<&str> = s.split(',').filter(|l| !l.is_empty()).collect();
    let mut unknown: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|l| !LABELS.contains(l))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        unknown.dedup();
        return Err(format!(
            "unknown IPVS backend labels: {:?}",
            unknown.join(", ")
        ));
    }
    Ok((0..LABELS.len())
        .filter(|i| wanted.contains(&LABELS[*i]))
        .collect())
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    let labels = flags
        .value("collector.ipvs.backend-labels")
        .unwrap_or_else(|| LABELS.join(","));
    Ok(Box::new(Ipvs {
        stats: paths.proc("net/ip_vs_stats"),
        backends: paths.proc("net/ip_vs"),
        labels: parse_labels(&labels)?,
    }))
}

struct Ipvs {
    stats: PathBuf,
    backends: PathBuf,
    labels: Vec<usize>,
}

/// Connections, incoming and outgoing packets, incoming and outgoing bytes: the third line
/// of `ip_vs_stats`, five hex numbers.
pub fn parse_stats(text: &str) -> Result<[u64; 5], String> {
    let mut lines = text.splitn(4, '\n');
    let third = lines.nth(2);
    if lines.next().is_none() {
        return Err("too short".into());
    }
    let fields: Vec<&str> = third.unwrap_or("").split_ascii_whitespace().collect();
    let mut out = [0u64; 5];
    if fields.len() != out.len() {
        return Err(format!(
            "{} fields on the totals line, want 5",
            fields.len()
        ));
    }
    for (slot, f) in out.iter_mut().zip(&fields) {
        *slot = u64::from_str_radix(f, 16).map_err(|_| format!("not hex: {f:?}"))?;
    }
    Ok(out)
}

/// One real server of one virtual service.
#[derive(Debug, PartialEq)]
pub struct Backend {
    /// local_address, local_port, remote_address, remote_port, proto, local_mark.
    pub labels: [String; 6],
    pub weight: u64,
    pub active: u64,
    pub inactive: u64,
}

/// An address as Go's net.IP prints it: IPv4-mapped IPv6 addresses in dotted form.
fn ip_string(hex: &str) -> Result<String, String> {
    let bad = || format!("bad address {hex:?}");
    let byte = |i: usize| {
        hex.get(i * 2..i * 2 + 2)
            .and_then(|b| u8::from_str_radix(b, 16).ok())
            .ok_or_else(bad)
    };
    match hex.len() {
        8 => Ok(Ipv4Addr::new(byte(0)?, byte(1)?, byte(2)?, byte(3)?).to_string()),
        32 => {
            let mut b = [0u8; 16];
            for (i, slot) in b.iter_mut().enumerate() {
                *slot = byte(i)?;
            }
            let a = Ipv6Addr::from(b);
            Ok(match a.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => a.to_string(),
            })
        }
        _ => Err(bad()),
    }
}

/// `C0A80016:0CEA` or `[2620:...:0001]:0050` (the brackets and colons of IPv6 dropped first).
fn ip_port(s: &str) -> Result<(String, String), String> {
    let s: String = if let Some(rest) = s.strip_prefix('[') {
        let (ip, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("bad address {s:?}"))?;
        format!("{}:{port}", ip.replace(':', ""))
    } else {
        s.to_string()
    };
    let (ip, port) = s
        .split_once(':')
        .ok_or_else(|| format!("no port in {s:?}"))?;
    let port = u16::from_str_radix(port, 16).map_err(|_| format!("bad port {port:?}"))?;
    Ok((ip_string(ip)?, port.to_string()))
}

/// The backends of `/proc/net/ip_vs`, each with its virtual service's address or mark.
pub fn parse_backends(text: &str) -> Result<Vec<Backend>, String> {
    let mut out = Vec::new();
    // (proto, local address, local port, mark) of the current virtual service.
    let mut service = (String::new(), String::new(), "0".to_string(), String::new());
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        let Some(first) = f.first() else {
            continue;
        };
        if *first == "IP" || *first == "Prot" {
            continue;
        }
        let second = f
            .get(1)
            .ok_or_else(|| format!("line {}: one field: {line:?}", n + 1))?;
        if *second == "RemoteAddress:Port" {
            continue;
        }
        match *first {
            "TCP" | "UDP" => {
                let (a, p) = ip_port(second).map_err(|e| format!("line {}: {e}", n + 1))?;
                service = (first.to_string(), a, p, String::new());
            }
            "FWM" => {
                service = (
                    first.to_string(),
                    String::new(),
                    "0".into(),
                    second.to_string(),
                )
            }
            "->" if f.len() >= 6 => {
                let (ra, rp) = ip_port(second).map_err(|e| format!("line {}: {e}", n + 1))?;
                let num = |i: usize| {
                    f[i].parse::<u64>()
                        .map_err(|_| format!("line {}: not a number: {:?}", n + 1, f[i]))
                };
                out.push(Backend {
                    labels: [
                        service.1.clone(),
                        service.2.clone(),
                        ra,
                        rp,
                        service.0.clone(),
                        service.3.clone(),
                    ],
                    weight: num(3)?,
                    active: num(4)?,
                    inactive: num(5)?,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

impl Collector for Ipvs {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let text = match read(&self.stats) {
            Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoData(self.stats.display().to_string()))
            }
            r => r?,
        };
        let totals = parse_stats(&text).map_err(|msg| Error::Parse {
            path: self.stats.clone(),
            msg,
        })?;
        let text = read(&self.backends)?;
        let backends = parse_backends(&text).map_err(|msg| Error::Parse {
            path: self.backends.clone(),
            msg,
        })?;
        #[rustfmt::skip]
        let names = [
            ("node_ipvs_connections_total", "The total number of connections made."),
            ("node_ipvs_incoming_packets_total", "The total number of incoming packets."),
            ("node_ipvs_outgoing_packets_total", "The total number of outgoing packets."),
            ("node_ipvs_incoming_bytes_total", "The total amount of incoming data."),
            ("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data."),
        ];
        for ((name, help), v) in names.iter().zip(totals) {
            enc.single(name, help, MetricType::Counter, v as f64);
        }
        // Sum the backends that share the chosen labels, in first-seen order.
        let mut sums: Vec<(Vec<&str>, [u64; 3])> = Vec::new();
        for b in &backends {
            let key: Vec<&str> = self.labels.iter().map(|i| b.labels[*i].as_str()).collect();
            let add = [b.active, b.inactive, b.weight];
            match sums.iter_mut().find(|(k, _)| *k == key) {
                Some((_, s)) => {
                    for (x, y) in s.iter_mut().zip(add) {
                        *x = x.wrapping_add(y);
                    }
                }
                None => sums.push((key, add)),
            }
        }
        #[rustfmt::skip]
        let families = [
            ("node_ipvs_backend_connections_active", "The current active connections by local and remote address."),
            ("node_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address."),
            ("node_ipvs_backend_weight", "The current backend weight by local and remote address."),
        ];
        for (i, (name, help)) in families.iter().enumerate() {
            let mut f = enc.family(name, help, MetricType::Gauge);
            for (key, s) in &sums {
                let labels: Vec<(&str, &str)> = self
                    .labels
                    .iter()
                    .zip(key)
                    .map(|(l, v)| (LABELS[*l], *v))
                    .collect();
                f.sample(&labels, s[i] as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP_VS: &str = include_str!("../../tests/fixtures/server/proc/net/ip_vs");

    #[test]
    fn ipvs_stats_totals() {
        let t = include_str!("../../tests/fixtures/server/proc/net/ip_vs_stats");
        assert_eq!(
            parse_stats(t).unwrap(),
            [0x23765872, 0x16E55A09C, 0, 0x14D8E2A8F3B9, 0]
        );
        assert!(parse_stats("a\nb\n").is_err(), "too short");
        assert!(parse_stats("a\nb\n1 2 3 4\n").is_err(), "four fields");
        assert!(parse_stats("a\nb\n1 2 3 4 G\n").is_err(), "not hex");
    }

    #[test]
    fn ipvs_backends_tcp_udp_ipv6_fwm() {
        let b = parse_backends(IP_VS).unwrap();
        assert_eq!(b.len(), 10);
        assert_eq!(
            b[0].labels,
            ["192.168.0.22", "3306", "192.168.82.22", "3306", "TCP", ""].map(String::from)
        );
        assert_eq!((b[0].weight, b[0].active, b[0].inactive), (100, 248, 2));
        assert_eq!(b[7].labels[0], "2620::1");
        assert_eq!(b[7].labels[2], "2620::2");
        assert_eq!(
            b[8].labels,
            ["", "0", "192.168.50.26", "3306", "FWM", "10001000"].map(String::from)
        );
    }

    #[test]
    fn ipvs_mapped_ipv6_prints_as_ipv4() {
        let b = parse_backends(
            "TCP  [0000:0000:0000:0000:0000:ffff:0a00:0001]:0050 rr\n  -> [0000:0000:0000:0000:0000:ffff:0a00:0002]:0050 Route 1 2 3\n",
        )
        .unwrap();
        assert_eq!(b[0].labels[0], "10.0.0.1");
        assert_eq!(b[0].labels[2], "10.0.0.2");
    }

    #[test]
    fn ipvs_malformed() {
        assert!(
            parse_backends("TCP  C0A8001:0CEA wlc\n").is_err(),
            "7 hex digits"
        );
        assert!(parse_backends("TCP  C0A80016:XYZ wlc\n").is_err());
        assert!(
            parse_backends("TCP  C0A80016:0CEA wlc\n  -> C0A85216:0CEA Tunnel x 1 2\n").is_err()
        );
        assert!(
            parse_backends("TCP\n").is_err(),
            "1.5 panics on a one-field line"
        );
        assert_eq!(
            parse_backends("  -> C0A85216:0CEA Tunnel\n").unwrap(),
            vec![],
            "short backend line skipped"
        );
    }

    #[test]
    fn ipvs_backend_labels_flag() {
        assert_eq!(parse_labels("proto,local_port").unwrap(), vec![1, 4]);
        assert_eq!(parse_labels("").unwrap(), Vec::<usize>::new());
        let e = parse_labels("proto,nope,bad").unwrap_err();
        assert!(e.contains("bad, nope"), "{e}");
    }
}
