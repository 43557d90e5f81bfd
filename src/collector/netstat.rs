//! `netstat`: the kernel's protocol counters from `/proc/net/netstat` and `/proc/net/snmp`
//! (pairs of lines, `Proto: Name Name ...` then `Proto: value value ...`) and
//! `/proc/net/snmp6` (`Ip6InReceives  value` lines), as node_exporter 1.5's untyped
//! `node_netstat_<Proto>_<Field>` for the fields `--collector.netstat.fields` selects.
//!
//! As in 1.5: netstat and snmp are required, snmp6 is skipped when IPv6 is off, and every
//! value must be a number, selected or not.

use std::path::PathBuf;

use super::pattern::FieldFilter;
use super::{read, read_optional, Collector, Error, Paths};
use crate::expfmt::{is_metric_name, Encoder, MetricType};
use crate::flags::{Flags, Spec};

/// node_exporter 1.5's default for `--collector.netstat.fields`.
pub const DEFAULT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

pub fn flags() -> Vec<Spec> {
    vec![Spec::value(
        "collector.netstat.fields",
        Some(DEFAULT_FIELDS),
        "Regexp of fields to return for netstat collector.",
    )]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    let re = flags
        .value("collector.netstat.fields")
        .unwrap_or_else(|| DEFAULT_FIELDS.to_string());
    Ok(Box::new(Netstat {
        netstat: paths.proc("net/netstat"),
        snmp: paths.proc("net/snmp"),
        snmp6: paths.proc("net/snmp6"),
        fields: FieldFilter::new(&re).map_err(|e| format!("bad regexp {re:?}: {e}"))?,
    }))
}

struct Netstat {
    netstat: PathBuf,
    snmp: PathBuf,
    snmp6: PathBuf,
    fields: FieldFilter,
}

/// (protocol, field, value) of every column of a netstat/snmp file, in file order.
pub fn parse_pairs(text: &str) -> Result<Vec<(&str, &str, f64)>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, names)) = lines.next() {
        let n = i + 1;
        let values = lines.next().map(|(_, l)| l).unwrap_or("");
        let names: Vec<&str> = names.split(' ').collect();
        let values: Vec<&str> = values.split(' ').collect();
        // The protocol is the first token without its trailing ':'.
        let head = names.first().copied().unwrap_or("");
        let proto = head
            .strip_suffix(':')
            .filter(|p| !p.is_empty())
            .ok_or_else(|| format!("line {n}: no protocol in {head:?}"))?;
        if names.len() != values.len() {
            return Err(format!(
                "line {n}: {proto}: {} names, {} values",
                names.len(),
                values.len()
            ));
        }
        for (name, v) in names.iter().zip(&values).skip(1) {
            out.push((proto, *name, number(n, v)?));
        }
    }
    Ok(out)
}

fn number(line: usize, v: &str) -> Result<f64, String> {
    v.parse::<f64>()
        .map_err(|_| format!("line {line}: not a number: {v:?}"))
}

/// (protocol, field, value) of `/proc/net/snmp6`: the protocol runs up to and including the
/// first '6' of the name (Ip6, Icmp6, Udp6, UdpLite6); lines without a '6' are skipped.
pub fn parse_snmp6(text: &str) -> Result<Vec<(&str, &str, f64)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut it = line.split_ascii_whitespace();
        let (Some(key), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        let Some(six) = key.find('6') else { continue };
        let (proto, field) = key.split_at(six + 1);
        out.push((proto, field, number(i + 1, v)?));
    }
    Ok(out)
}

impl Collector for Netstat {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let netstat = read(&self.netstat)?;
        let snmp = read(&self.snmp)?;
        let snmp6 = read_optional(&self.snmp6)?;
        let err = |path: &PathBuf| {
            let path = path.clone();
            move |msg| Error::Parse { path, msg }
        };
        let mut all = parse_pairs(&netstat).map_err(err(&self.netstat))?;
        all.extend(parse_pairs(&snmp).map_err(err(&self.snmp))?);
        if let Some(t) = &snmp6 {
            all.extend(parse_snmp6(t).map_err(err(&self.snmp6))?);
        }
        let mut name = String::with_capacity(64);
        let mut help = String::with_capacity(64);
        for (proto, field, v) in all {
            name.clear();
            name.push_str("node_netstat_");
            name.push_str(proto);
            name.push('_');
            name.push_str(field);
            let key = name.get("node_netstat_".len()..).unwrap_or_default();
            if !self.fields.is_match(key) || !is_metric_name(&name) {
                continue;
            }
            help.clear();
            help.push_str("Statistic ");
            help.push_str(proto);
            help.push_str(field);
            help.push('.');
            enc.single(&name, &help, MetricType::Untyped, v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured on the x86_64 build VM (Debian 12, kernel 6.18).
    const NETSTAT: &str = include_str!("../../tests/fixtures/server/proc/net/netstat");
    const SNMP: &str = include_str!("../../tests/fixtures/server/proc/net/snmp");
    const SNMP6: &str = include_str!("../../tests/fixtures/server/proc/net/snmp6");

    fn get(v: &[(&str, &str, f64)], p: &str, f: &str) -> f64 {
        v.iter()
            .find(|(a, b, _)| *a == p && *b == f)
            .unwrap_or_else(|| panic!("{p}_{f} missing"))
            .2
    }

    #[test]
    fn netstat_x86_64_server() {
        let n = parse_pairs(NETSTAT).unwrap();
        assert!(n
            .iter()
            .any(|(p, f, _)| *p == "TcpExt" && *f == "ListenOverflows"));
        assert!(n.iter().any(|(p, _, _)| *p == "IpExt"));
        let s = parse_pairs(SNMP).unwrap();
        assert_eq!(get(&s, "Ip", "Forwarding"), 2.0);
        assert_eq!(get(&s, "Tcp", "MaxConn"), -1.0);
        let s6 = parse_snmp6(SNMP6).unwrap();
        assert_eq!(s6[0].0, "Ip6");
        assert_eq!(s6[0].1, "InReceives");
        assert!(s6
            .iter()
            .any(|(p, f, _)| *p == "UdpLite6" && *f == "InErrors"));
        assert!(s6.iter().any(|(p, f, _)| *p == "Icmp6" && *f == "OutMsgs"));
    }

    #[test]
    fn netstat_default_fields() {
        let f = FieldFilter::new(DEFAULT_FIELDS).unwrap();
        for yes in [
            "Ip_Forwarding",
            "TcpExt_ListenDrops",
            "Udp6_NoPorts",
            "UdpLite_InErrors",
            "Icmp6_InMsgs",
            "IpExt_InOctets",
            "Tcp_CurrEstab",
        ] {
            assert!(f.is_match(yes), "{yes}");
        }
        for no in [
            "Ip_DefaultTTL",
            "TcpExt_TCPOFOQueue",
            "Tcp_MaxConn",
            "Udp_InCsumErrorsX",
            "Ip6_InReceives",
        ] {
            assert!(!f.is_match(no), "{no}");
        }
    }

    #[test]
    fn netstat_malformed_and_truncated() {
        assert!(parse_pairs("Tcp: A B\nTcp: 1\n").is_err(), "count mismatch");
        assert!(parse_pairs("Tcp: A B\n").is_err(), "values line missing");
        assert!(parse_pairs("Tcp: A\nTcp: x\n").is_err(), "not a number");
        assert!(parse_pairs("\n\n").is_err(), "no protocol");
        assert_eq!(
            parse_pairs("Tcp: A\nTcp: 5\n").unwrap(),
            [("Tcp", "A", 5.0)]
        );
        assert!(parse_snmp6("Ip6InReceives x\n").is_err());
        assert!(parse_snmp6("IpInReceives 1\nshort\n").unwrap().is_empty());
    }
}
