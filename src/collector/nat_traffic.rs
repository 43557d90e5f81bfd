//! `nat_traffic`: bytes of the live connections per address pair, from
//! `/proc/net/nf_conntrack` (one line per tracked connection, the format of the kernel's
//! `ct_seq_show`, in `net/netfilter/nf_conntrack_standalone.c`), as OpenWrt's Lua
//! exporter gives them: `node_nat_traffic{src,dest}` is the sum of every `bytes=` of the
//! entries whose original direction goes from `src` to `dest` (both directions counted;
//! addresses as the kernel prints them). Off by default: one series per pair.
//!
//! A busy router tracks tens of thousands of connections, so the series are bounded by
//! `--collector.nat_traffic.max-pairs`: the pairs with the most bytes are kept, and what is
//! left out is reported (`node_nat_traffic_dropped_pairs`, `_dropped_bytes`), with the bound.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;

use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

/// Distinct pairs held while reading, whatever the flag says: beyond it new pairs are only
/// counted, so memory stays bounded however large the table is.
const HARD_CAP: usize = 65536;
/// Longest line read (a real one is about 300 bytes).
const MAX_LINE: usize = 4096;

pub fn flags() -> Vec<Spec> {
    vec![Spec::value(
        "collector.nat_traffic.max-pairs",
        Some("1000"),
        "Most address pairs exported by nat_traffic (those with the most bytes); the rest are counted in node_nat_traffic_dropped_*.",
    )]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    let v = flags
        .value("collector.nat_traffic.max-pairs")
        .unwrap_or_default();
    let max: usize = v
        .parse()
        .map_err(|_| format!("--collector.nat_traffic.max-pairs: not a number: {v:?}"))?;
    Ok(Box::new(NatTraffic {
        path: paths.proc("net/nf_conntrack"),
        max: max.min(HARD_CAP),
    }))
}

struct NatTraffic {
    path: PathBuf,
    max: usize,
}

/// Byte sums per (src, dest), plus what did not fit under [`HARD_CAP`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pairs {
    pub bytes: HashMap<(String, String), u64>,
    pub overflow_pairs: u64,
    pub overflow_bytes: u64,
}

impl Pairs {
    /// Adds one conntrack line (blank lines are ignored).
    pub fn add_line(&mut self, line: &str) -> Result<(), String> {
        let (mut src, mut dst, mut bytes) = (None, None, 0u64);
        let mut tokens = 0;
        for t in line.split_ascii_whitespace() {
            tokens += 1;
            if let Some(v) = t.strip_prefix("src=") {
                src.get_or_insert(v);
            } else if let Some(v) = t.strip_prefix("dst=") {
                dst.get_or_insert(v);
            } else if let Some(v) = t.strip_prefix("bytes=") {
                let n: u64 = v.parse().map_err(|_| format!("bad bytes={v:?}"))?;
                bytes = bytes.saturating_add(n);
            }
        }
        if tokens == 0 {
            return Ok(());
        }
        let (Some(src), Some(dst)) = (src, dst) else {
            return Err("no src= and dst=".into());
        };
        if let Some(b) = self.bytes.get_mut(&(src.to_string(), dst.to_string())) {
            *b = b.saturating_add(bytes);
        } else if self.bytes.len() < HARD_CAP {
            self.bytes.insert((src.to_string(), dst.to_string()), bytes);
        } else {
            self.overflow_pairs += 1;
            self.overflow_bytes = self.overflow_bytes.saturating_add(bytes);
        }
        Ok(())
    }

    /// The `max` pairs with the most bytes, sorted by (src, dest), and the pairs and bytes
    /// left out.
    pub fn top(&self, max: usize) -> (Vec<(&str, &str, u64)>, u64, u64) {
        let mut v: Vec<(&str, &str, u64)> = self
            .bytes
            .iter()
            .map(|((s, d), b)| (s.as_str(), d.as_str(), *b))
            .collect();
        // Most bytes first; ties by address so the choice is stable between scrapes.
        v.sort_unstable_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)).then(a.1.cmp(b.1)));
        let (mut pairs, mut bytes) = (self.overflow_pairs, self.overflow_bytes);
        for (_, _, b) in v.iter().skip(max) {
            pairs += 1;
            bytes = bytes.saturating_add(*b);
        }
        v.truncate(max);
        v.sort_unstable_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(b.1)));
        (v, pairs, bytes)
    }
}

/// The whole file's text (the streaming reader in `update` does the same line by line).
pub fn parse(text: &str) -> Result<Pairs, String> {
    let mut p = Pairs::default();
    for (i, line) in text.lines().enumerate() {
        p.add_line(line)
            .map_err(|m| format!("line {}: {m}", i + 1))?;
    }
    Ok(p)
}

pub fn write(enc: &mut Encoder, pairs: &Pairs, max: usize) {
    let (top, dropped, dropped_bytes) = pairs.top(max);
    let mut f = enc.family(
        "node_nat_traffic",
        "Bytes of the live conntrack entries from src to dest, both directions.",
        MetricType::Gauge,
    );
    for (s, d, b) in &top {
        f.sample(&[("src", s), ("dest", d)], *b as f64);
    }
    enc.single(
        "node_nat_traffic_pairs_limit",
        "Most address pairs node_nat_traffic exports (--collector.nat_traffic.max-pairs).",
        MetricType::Gauge,
        max as f64,
    );
    enc.single(
        "node_nat_traffic_dropped_pairs",
        "Address pairs left out of node_nat_traffic by the limit.",
        MetricType::Gauge,
        dropped as f64,
    );
    enc.single(
        "node_nat_traffic_dropped_bytes",
        "Bytes of the address pairs left out of node_nat_traffic.",
        MetricType::Gauge,
        dropped_bytes as f64,
    );
}

impl Collector for NatTraffic {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let io = |err| Error::Io {
            path: self.path.clone(),
            err,
        };
        let parse_err = |n: usize, msg: String| Error::Parse {
            path: self.path.clone(),
            msg: format!("line {n}: {msg}"),
        };
        let f = std::fs::File::open(&self.path).map_err(io)?;
        let mut r = std::io::BufReader::with_capacity(16384, f);
        let mut pairs = Pairs::default();
        let mut line = Vec::with_capacity(512);
        let mut n = 0;
        loop {
            line.clear();
            let got = std::io::Read::take(&mut r, MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(io)?;
            if got == 0 {
                break;
            }
            n += 1;
            if line.len() > MAX_LINE {
                return Err(parse_err(n, format!("longer than {MAX_LINE} bytes")));
            }
            let text = std::str::from_utf8(&line).map_err(|_| parse_err(n, "not UTF-8".into()))?;
            pairs.add_line(text).map_err(|m| parse_err(n, m))?;
        }
        write(enc, &pairs, self.max);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/node/proc/net/nf_conntrack");

    #[test]
    fn nat_traffic_ipv4_and_ipv6_flows() {
        let p = parse(FIXTURE).unwrap();
        let (top, dropped, _) = p.top(100);
        assert_eq!(dropped, 0);
        let get = |s: &str, d: &str| top.iter().find(|x| x.0 == s && x.1 == d).map(|x| x.2);
        // Two TCP connections of one pair (one offloaded, without a timeout) plus both
        // directions of each.
        assert_eq!(
            get("192.168.1.100", "93.184.216.34"),
            Some(3_112 + 9_000 + 80_000 + 1_236)
        );
        // Accounting off for an entry: no bytes= tokens, it counts 0.
        assert_eq!(get("192.168.1.101", "198.51.100.7"), Some(0));
        assert_eq!(
            get(
                "fd00:0000:0000:0000:0000:0000:0000:0002",
                "2001:0db8:0000:0000:0000:0000:0000:0001"
            ),
            Some(208)
        );
    }

    #[test]
    fn nat_traffic_limit_keeps_the_biggest() {
        let p = parse(FIXTURE).unwrap();
        let all = p.bytes.len() as u64;
        let (top, dropped, dropped_bytes) = p.top(1);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0, "2001:0db8:0001:0000:0000:0000:0000:0064");
        assert_eq!(dropped, all - 1);
        let total: u64 = p.bytes.values().sum();
        assert_eq!(dropped_bytes, total - top[0].2);
        let mut enc = Encoder::new();
        write(&mut enc, &p, 1);
        let out = String::from_utf8(enc.into_bytes()).unwrap();
        assert!(out.contains("node_nat_traffic_pairs_limit 1\n"), "{out}");
        assert!(out.contains(&format!("node_nat_traffic_dropped_pairs {}\n", all - 1)));
    }

    #[test]
    fn nat_traffic_malformed() {
        assert!(
            parse("ipv4 2 tcp 6 10 ESTABLISHED sport=1\n").is_err(),
            "no addresses"
        );
        assert!(parse("ipv4 2 tcp src=a dst=b bytes=x\n").is_err());
        assert_eq!(parse("\n  \n").unwrap(), Pairs::default());
    }
}
