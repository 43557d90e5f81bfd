//! `sockstat`: socket counts from `/proc/net/sockstat` and `/proc/net/sockstat6`
//! (`PROTO: key value key value ...`), as node_exporter 1.5's gauges
//! `node_sockstat_<PROTO>_<key>` (protocol spelled as in the file: TCP, UDP6, FRAG, ...) and
//! `node_sockstat_sockets_used`. Only the keys inuse, orphan, tw, alloc, mem and memory are
//! exported; `mem` is in pages and also gives `<PROTO>_mem_bytes`. A missing file is skipped.

use std::path::PathBuf;

use super::{read_optional, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Ok(Box::new(Sockstat {
        v4: paths.proc("net/sockstat"),
        v6: paths.proc("net/sockstat6"),
        page_size: if page > 0 { page as f64 } else { 4096.0 },
    }))
}

struct Sockstat {
    v4: PathBuf,
    v6: PathBuf,
    page_size: f64,
}

/// The keys node_exporter keeps, in the order it emits them.
const KEYS: [&str; 6] = ["inuse", "orphan", "tw", "alloc", "mem", "memory"];

/// One line: protocol and the values of [`KEYS`] (inuse is 0 when absent, as in procfs).
#[derive(Debug, PartialEq)]
pub struct Proto<'a> {
    pub name: &'a str,
    pub vals: [Option<i64>; 6],
}

/// `sockets: used N` (IPv4 file only) and the protocol lines.
pub fn parse(text: &str) -> Result<(Option<i64>, Vec<Proto<'_>>), String> {
    let mut used = None;
    let mut protos = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 3 || fields.len() % 2 == 0 {
            return Err(format!("line {n}: malformed sockstat line {line:?}"));
        }
        let name = fields[0].strip_suffix(':').unwrap_or(fields[0]);
        let mut vals = [None; 6];
        let mut used_here = 0;
        for kv in fields[1..].chunks_exact(2) {
            let v: i64 = kv[1]
                .parse()
                .map_err(|_| format!("line {n}: {}: not a number: {:?}", kv[0], kv[1]))?;
            if kv[0] == "used" {
                used_here = v;
            }
            if let Some(k) = KEYS.iter().position(|k| *k == kv[0]) {
                vals[k] = Some(v);
            }
        }
        if name == "sockets" {
            used = Some(used_here);
        } else {
            if vals[0].is_none() {
                vals[0] = Some(0);
            }
            protos.push(Proto { name, vals });
        }
    }
    Ok((used, protos))
}

impl Collector for Sockstat {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let mut name = String::with_capacity(48);
        let mut help = String::with_capacity(64);
        for path in [&self.v4, &self.v6] {
            let Some(text) = read_optional(path)? else {
                continue;
            };
            let (used, protos) = parse(&text).map_err(|msg| Error::Parse {
                path: path.clone(),
                msg,
            })?;
            if let Some(u) = used {
                enc.single(
                    "node_sockstat_sockets_used",
                    "Number of IPv4 sockets in use.",
                    MetricType::Gauge,
                    u as f64,
                );
            }
            for p in &protos {
                for (k, v) in KEYS.iter().zip(p.vals) {
                    let Some(v) = v else { continue };
                    let mut emit = |key: &str, v: f64| {
                        name.clear();
                        name.push_str("node_sockstat_");
                        name.push_str(p.name);
                        name.push('_');
                        name.push_str(key);
                        help.clear();
                        help.push_str("Number of ");
                        help.push_str(p.name);
                        help.push_str(" sockets in state ");
                        help.push_str(key);
                        help.push('.');
                        if crate::expfmt::is_metric_name(&name) {
                            enc.single(&name, &help, MetricType::Gauge, v);
                        }
                    };
                    emit(k, v as f64);
                    if *k == "mem" {
                        emit("mem_bytes", v as f64 * self.page_size);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, Proto};

    /// Captured on the x86_64 build VM (Debian 12, kernel 6.18).
    const V4: &str = include_str!("../../tests/fixtures/server/proc/net/sockstat");
    const V6: &str = include_str!("../../tests/fixtures/server/proc/net/sockstat6");

    #[test]
    fn sockstat_x86_64_server() {
        let (used, p) = parse(V4).unwrap();
        assert_eq!(used, Some(17));
        assert_eq!(p.len(), 5);
        assert_eq!(
            p[0],
            Proto {
                name: "TCP",
                vals: [Some(1), Some(0), Some(1), Some(1), Some(0), None]
            }
        );
        assert_eq!(p[4].vals[5], Some(0), "FRAG memory");
        let (used, p) = parse(V6).unwrap();
        assert_eq!(used, None);
        assert_eq!(
            p.iter().map(|p| p.name).collect::<Vec<_>>(),
            ["TCP6", "UDP6", "UDPLITE6", "RAW6", "FRAG6"]
        );
    }

    #[test]
    fn sockstat_malformed() {
        assert!(parse("TCP: inuse\n").is_err(), "odd count");
        assert!(parse("TCP:\n").is_err());
        assert!(parse("TCP: inuse x\n").is_err());
        assert!(
            parse("TCP:  inuse 1\n").is_err(),
            "split on single spaces, as procfs"
        );
        assert!(parse("").unwrap().1.is_empty());
    }
}
