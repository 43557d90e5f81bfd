//! `nfsd`: NFS server statistics from `/proc/net/rpc/nfsd` (fs/nfsd/stats.c: reply cache,
//! file handles, I/O, threads, read-ahead cache, network, RPC, then per-version procedure
//! counts), as node_exporter 1.5's `node_nfsd_*` families. No file (no nfsd module): no data,
//! success 0, as 1.5. An unknown line is an error, as in 1.5: kernel 6.6's `wdeleg_getattr`
//! line makes this collector fail there, as it makes 1.5's.

use std::path::PathBuf;

use super::nfs::{counted, exact, lines, read_or_nodata, V2, V3};
use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

/// The NFSv4 operations 1.5 exports, with their column in `proc4ops` (after the count;
/// fs/nfsd/nfs4proc.c numbers them by OP_*; procfs 0.8 skips PUTPUBFH, PUTROOTFH and the
/// two SETCLIENTID ones).
#[rustfmt::skip]
pub const V4_OPS: [(&str, usize); 33] = [
    ("Access", 3), ("Close", 4), ("Commit", 5), ("Create", 6), ("DelegPurge", 7),
    ("DelegReturn", 8), ("GetAttr", 9), ("GetFH", 10), ("Link", 11), ("Lock", 12),
    ("Lockt", 13), ("Locku", 14), ("Lookup", 15), ("LookupRoot", 16), ("Nverify", 17),
    ("Open", 18), ("OpenAttr", 19), ("OpenConfirm", 20), ("OpenDgrd", 21), ("PutFH", 22),
    ("Read", 25), ("ReadDir", 26), ("ReadLink", 27), ("Remove", 28), ("Rename", 29),
    ("Renew", 30), ("RestoreFH", 31), ("SaveFH", 32), ("SecInfo", 33), ("SetAttr", 34),
    ("Verify", 35), ("Write", 36), ("RelLockOwner", 37),
];

/// The server's statistics; lines the kernel does not print (`ra` is gone since 5.x) stay 0.
#[derive(Debug, Default, PartialEq)]
pub struct Server {
    pub rc: [u64; 3],
    pub fh: [u64; 5],
    pub io: [u64; 2],
    pub th: [u64; 2],
    pub ra: Vec<u64>,
    pub net: [u64; 4],
    pub rpc: [u64; 5],
    pub v2: Vec<u64>,
    pub v3: Vec<u64>,
    pub v4ops: Vec<u64>,
}

pub fn parse(text: &str) -> Result<Server, String> {
    let mut s = Server {
        ra: vec![0; 12],
        v2: vec![0; V2.len()],
        v3: vec![0; V3.len()],
        v4ops: vec![0; 39],
        ..Server::default()
    };
    for (label, v) in lines(text)? {
        match label {
            "rc" => s.rc = exact(label, &v)?,
            "fh" => s.fh = exact(label, &v)?,
            "io" => s.io = exact(label, &v)?,
            "th" => s.th = exact(label, &v)?,
            "ra" => s.ra = exact::<12>(label, &v)?.to_vec(),
            "net" => s.net = exact(label, &v)?,
            "rpc" => s.rpc = exact(label, &v)?,
            "proc2" => s.v2 = counted(label, &v, V2.len())?[..V2.len()].to_vec(),
            "proc3" => s.v3 = counted(label, &v, V3.len())?[..V3.len()].to_vec(),
            // Null and Compound: checked, not exported.
            "proc4" => {
                counted(label, &v, 2)?;
                if v.len() != 3 {
                    return Err("proc4 must have 2 values".into());
                }
            }
            "proc4ops" => s.v4ops = counted(label, &v, 39)?.to_vec(),
            _ => return Err(format!("unknown line {label:?}")),
        }
    }
    Ok(s)
}

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Nfsd {
        path: paths.proc("net/rpc/nfsd"),
    }))
}

struct Nfsd {
    path: PathBuf,
}

impl Collector for Nfsd {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let text = read_or_nodata(&self.path)?;
        let s = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        const C: MetricType = MetricType::Counter;
        const G: MetricType = MetricType::Gauge;
        let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0) as f64;
        #[rustfmt::skip]
        let singles: [(&str, &str, MetricType, f64); 11] = [
            ("node_nfsd_reply_cache_hits_total", "Total number of NFSd Reply Cache hits (client lost server response).", C, s.rc[0] as f64),
            ("node_nfsd_reply_cache_misses_total", "Total number of NFSd Reply Cache an operation that requires caching (idempotent).", C, s.rc[1] as f64),
            ("node_nfsd_reply_cache_nocache_total", "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).", C, s.rc[2] as f64),
            ("node_nfsd_file_handles_stale_total", "Total number of NFSd stale file handles", C, s.fh[0] as f64),
            ("node_nfsd_disk_bytes_read_total", "Total NFSd bytes read.", C, s.io[0] as f64),
            ("node_nfsd_disk_bytes_written_total", "Total NFSd bytes written.", C, s.io[1] as f64),
            ("node_nfsd_server_threads", "Total number of NFSd kernel threads that are running.", G, s.th[0] as f64),
            ("node_nfsd_read_ahead_cache_size_blocks", "How large the read ahead cache is in blocks.", G, at(&s.ra, 0)),
            ("node_nfsd_read_ahead_cache_not_found_total", "Total number of NFSd read ahead cache not found.", C, at(&s.ra, 11)),
            ("node_nfsd_connections_total", "Total number of NFSd TCP connections.", C, s.net[3] as f64),
            ("node_nfsd_server_rpcs_total", "Total number of NFSd RPCs.", C, s.rpc[0] as f64),
        ];
        for (name, help, typ, v) in singles {
            enc.single(name, help, typ, v);
        }
        enc.family(
            "node_nfsd_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            C,
        )
        .sample(&[("proto", "udp")], s.net[1] as f64)
        .sample(&[("proto", "tcp")], s.net[2] as f64);
        enc.family(
            "node_nfsd_rpc_errors_total",
            "Total number of NFSd RPC errors by error type.",
            C,
        )
        .sample(&[("error", "fmt")], s.rpc[2] as f64)
        .sample(&[("error", "auth")], s.rpc[3] as f64)
        .sample(&[("error", "cInt")], s.rpc[4] as f64);
        let mut f = enc.family(
            "node_nfsd_requests_total",
            "Total number NFSd Requests by method and protocol.",
            C,
        );
        // Null is not exported for the server.
        for (proto, names, vals) in [("2", &V2[..], &s.v2), ("3", &V3[..], &s.v3)] {
            for (m, v) in names.iter().zip(vals.iter()).skip(1) {
                f.sample(&[("method", m), ("proto", proto)], *v as f64);
            }
        }
        for (m, i) in V4_OPS {
            f.sample(&[("method", m), ("proto", "4")], at(&s.v4ops, i));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture: a kernel 5.x server (th with its ten legacy histogram columns, ra still
    /// printed).
    const SERVER: &str = include_str!("../../tests/fixtures/server/proc/net/rpc/nfsd");

    #[test]
    fn nfsd_server_lines() {
        let s = parse(SERVER).unwrap();
        assert_eq!(s.rc, [0, 6, 18622]);
        assert_eq!(s.io, [157286400, 72864]);
        assert_eq!(s.th, [8, 0]);
        assert_eq!(s.ra[0], 32);
        assert_eq!(s.net, [972, 55, 917, 4]);
        assert_eq!(s.rpc, [18628, 3, 1, 2, 0]);
        assert_eq!(s.v2[1], 201, "GetAttr");
        assert_eq!(s.v4ops.len(), 72);
        assert_eq!(s.v4ops[3], 503, "Access");
    }

    #[test]
    fn nfsd_kernel_6_short_th_and_no_ra() {
        let s = parse("th 16 0\nrpc 1 0 0 0 0\n").unwrap();
        assert_eq!(s.th, [16, 0]);
        assert_eq!(s.ra, vec![0; 12]);
    }

    #[test]
    fn nfsd_malformed() {
        assert!(parse("th 8\n").is_err());
        assert!(parse("th x 0 0.000\n").is_err());
        assert!(parse("ra 32 0\n").is_err());
        assert!(parse("proc4 2 1\n").is_err());
        assert!(parse("proc4ops 3 1 2 3\n").is_err(), "below 39 ops");
        assert!(
            parse("wdeleg_getattr 0\n").is_err(),
            "unknown line, as in 1.5"
        );
        assert!(parse("rc 1 2 3 4\n").is_err());
    }
}
