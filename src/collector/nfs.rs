//! `nfs`: NFS client RPC statistics from `/proc/net/rpc/nfs` (written by the kernel's
//! net/sunrpc/stats.c and fs/nfs: `net`, `rpc`, then one `procN <count> <values...>` line per
//! protocol version), as node_exporter 1.5's `node_nfs_*` counters. No file (no NFS client
//! module): no data, success 0, as 1.5. The line reader is shared with `nfsd`.

use std::path::PathBuf;

use super::{read, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

/// NFSv2 procedures in the kernel's order (RFC 1094), the method label values.
pub const V2: [&str; 18] = [
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write",
    "Create", "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3 procedures in the kernel's order (RFC 1813).
pub const V3: [&str; 22] = [
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// NFSv4 client operations in the order of the kernel's `proc4` line (include/linux/nfs4.h,
/// NFSPROC4_CLNT_*), as procfs 0.8 names them; later columns are not exported by 1.5.
pub const V4: [&str; 59] = [
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

/// The lines of an rpc stats file: label and values. A line needs a label and a value; the
/// values are decimal u64 except on the server's `th` line, of which only the first two
/// (threads, and the always-zero "full" count) are numbers.
pub fn lines(text: &str) -> Result<Vec<(&str, Vec<u64>)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        let [label, rest @ ..] = parts.as_slice() else {
            return Err(format!("line {}: empty", n + 1));
        };
        if rest.is_empty() {
            return Err(format!("line {}: {label} has no values", n + 1));
        }
        let rest = if *label == "th" {
            rest.get(..2)
                .ok_or_else(|| format!("line {}: th has fewer than 2 values", n + 1))?
        } else {
            rest
        };
        let mut vals = Vec::with_capacity(rest.len());
        for v in rest {
            vals.push(
                v.parse::<u64>()
                    .map_err(|_| format!("line {}: {label}: not a number: {v:?}", n + 1))?,
            );
        }
        out.push((*label, vals));
    }
    Ok(out)
}

/// Exactly `N` values.
pub fn exact<const N: usize>(label: &str, v: &[u64]) -> Result<[u64; N], String> {
    v.try_into()
        .map_err(|_| format!("{label} has {} values, want {N}", v.len()))
}

/// A `procN` line: its first value counts the rest, which must be at least `min`.
pub fn counted<'a>(label: &str, v: &'a [u64], min: usize) -> Result<&'a [u64], String> {
    let (count, rest) = v
        .split_first()
        .ok_or_else(|| format!("{label}: no count"))?;
    if *count != rest.len() as u64 || rest.len() < min {
        return Err(format!(
            "{label}: count {count}, {} values, want at least {min}",
            rest.len()
        ));
    }
    Ok(rest)
}

/// The client's statistics; lines the kernel does not print stay zero.
#[derive(Debug, Default, PartialEq)]
pub struct Client {
    pub net: [u64; 4],
    pub rpc: [u64; 3],
    pub v2: Vec<u64>,
    pub v3: Vec<u64>,
    pub v4: Vec<u64>,
}

pub fn parse(text: &str) -> Result<Client, String> {
    let mut c = Client {
        v2: vec![0; V2.len()],
        v3: vec![0; V3.len()],
        v4: vec![0; V4.len()],
        ..Client::default()
    };
    for (label, v) in lines(text)? {
        match label {
            "net" => c.net = exact(label, &v)?,
            "rpc" => c.rpc = exact(label, &v)?,
            "proc2" => c.v2 = counted(label, &v, V2.len())?[..V2.len()].to_vec(),
            "proc3" => c.v3 = counted(label, &v, V3.len())?[..V3.len()].to_vec(),
            "proc4" => {
                // Older kernels print fewer v4 operations: the missing ones read 0.
                let rest = counted(label, &v, 0)?;
                c.v4 = rest.iter().copied().take(V4.len()).collect();
                c.v4.resize(V4.len(), 0);
            }
            _ => return Err(format!("unknown line {label:?}")),
        }
    }
    Ok(c)
}

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Nfs {
        path: paths.proc("net/rpc/nfs"),
    }))
}

struct Nfs {
    path: PathBuf,
}

/// Reads an rpc stats file; a missing one is [`Error::NoData`].
pub fn read_or_nodata(path: &std::path::Path) -> Result<String, Error> {
    match read(path) {
        Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::NoData(path.display().to_string()))
        }
        r => r,
    }
}

impl Collector for Nfs {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let text = read_or_nodata(&self.path)?;
        let c = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        const C: MetricType = MetricType::Counter;
        enc.family(
            "node_nfs_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            C,
        )
        .sample(&[("protocol", "udp")], c.net[1] as f64)
        .sample(&[("protocol", "tcp")], c.net[2] as f64);
        enc.single(
            "node_nfs_connections_total",
            "Total number of NFSd TCP connections.",
            C,
            c.net[3] as f64,
        );
        enc.single(
            "node_nfs_rpcs_total",
            "Total number of RPCs performed.",
            C,
            c.rpc[0] as f64,
        );
        enc.single(
            "node_nfs_rpc_retransmissions_total",
            "Number of RPC transmissions performed.",
            C,
            c.rpc[1] as f64,
        );
        enc.single(
            "node_nfs_rpc_authentication_refreshes_total",
            "Number of RPC authentication refreshes performed.",
            C,
            c.rpc[2] as f64,
        );
        let mut f = enc.family(
            "node_nfs_requests_total",
            "Number of NFS procedures invoked.",
            C,
        );
        for (proto, names, vals) in [
            ("2", &V2[..], &c.v2),
            ("3", &V3[..], &c.v3),
            ("4", &V4[..], &c.v4),
        ] {
            for (m, v) in names.iter().zip(vals.iter()) {
                f.sample(&[("method", m), ("proto", proto)], *v as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client of kernel 5.10 (Debian 11), as nfsstat's source documents the lines; proc4 of
    /// an older kernel with only 48 operations.
    const CLIENT: &str = "\
net 18628 0 18628 6
rpc 4329785 0 4338291
proc2 18 2 69 0 0 4410 0 0 0 0 0 0 0 0 0 0 0 99 2
proc3 22 1 4084749 29200 94754 32580 186 47747 7981 8639 0 6356 0 6962 0 7958 0 0 241 4 4 2 39
proc4 48 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 7
";

    #[test]
    fn nfs_client_lines() {
        let c = parse(CLIENT).unwrap();
        assert_eq!(c.net, [18628, 0, 18628, 6]);
        assert_eq!(c.rpc, [4329785, 0, 4338291]);
        assert_eq!(c.v2[4], 4410, "Lookup");
        assert_eq!(c.v3[1], 4084749, "GetAttr");
        assert_eq!(c.v3[21], 39, "Commit");
        assert_eq!(c.v4.len(), 59, "padded");
        assert_eq!(c.v4[47], 7);
        assert_eq!(c.v4[58], 0);
    }

    #[test]
    fn nfs_missing_lines_are_zero() {
        let c = parse("rpc 1 2 3\n").unwrap();
        assert_eq!(c.net, [0; 4]);
        assert_eq!(c.v3, vec![0; 22]);
    }

    #[test]
    fn nfs_malformed() {
        assert!(parse("net 1 2 3\n").is_err(), "short net");
        assert!(parse("rpc 1 2 x\n").is_err());
        assert!(parse("proc2 3 1 2 3\n").is_err(), "v2 below 18");
        assert!(parse("proc3 23 1 2\n").is_err(), "count does not match");
        assert!(parse("proc9 1 1\n").is_err(), "unknown line");
        assert!(parse("net\n").is_err());
        assert!(parse("\n").is_err());
        assert!(parse("proc4 2 1\n").is_err());
    }
}
