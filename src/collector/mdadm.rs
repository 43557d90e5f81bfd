//! `mdadm`: Linux software RAID arrays from `/proc/mdstat` (Documentation/admin-guide/md.rst),
//! the five `node_md_*` families of node_exporter 1.5, parsed as procfs 0.8's `mdstat.go`
//! does: the state comes from the device line, disk counts from its `(F)`/`(S)` marks and the
//! `[total/active]` of the status line, the sync progress from the line after it (or after
//! the bitmap line).

use std::path::PathBuf;

use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Mdadm {
        path: paths.proc("mdstat"),
    }))
}

struct Mdadm {
    path: PathBuf,
}

/// One array.
#[derive(Debug, PartialEq)]
pub struct Md {
    pub name: String,
    /// active, inactive, recovering, resyncing or checking.
    pub state: String,
    pub active: i64,
    pub failed: i64,
    pub spare: i64,
    pub total: i64,
    pub blocks: i64,
    pub synced: i64,
}

fn int(s: &str, what: &str) -> Result<i64, String> {
    s.parse()
        .map_err(|_| format!("{what}: not a number: {s:?}"))
}

/// `(\d+) blocks .*\[(\d+)/(\d+)\] \[[U_]+\]`: total and active disks.
fn disks_of(status: &str) -> Option<(i64, i64)> {
    let b = status.find(" blocks ")?;
    let digits_before = status[..b]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    if digits_before == b {
        return None;
    }
    let after = &status[b + " blocks ".len()..];
    // The last "[n/m] [U_...]" pair: the regexp's `.*` is greedy.
    let mut found = None;
    let mut rest = after;
    while let Some(i) = rest.find('[') {
        let tail = &rest[i + 1..];
        if let Some((t, a, next)) = pair(tail) {
            found = Some((t, a));
            rest = next;
        } else {
            rest = tail;
        }
    }
    found
}

/// After a '[': "n/m] [U_]" gives (n, m, rest after the second ']').
fn pair(s: &str) -> Option<(i64, i64, &str)> {
    let (n, s) = s.split_once('/')?;
    let (m, s) = s.split_once(']')?;
    let s = s.strip_prefix(" [")?;
    let end = s.find(']')?;
    let marks = &s[..end];
    if n.is_empty() || m.is_empty() || marks.is_empty() {
        return None;
    }
    if !n.bytes().all(|b| b.is_ascii_digit())
        || !m.bytes().all(|b| b.is_ascii_digit())
        || !marks.bytes().all(|b| b == b'U' || b == b'_')
    {
        return None;
    }
    Some((n.parse().ok()?, m.parse().ok()?, &s[end + 1..]))
}

/// `\((\d+)/\d+\)`: the blocks done of a recovery/resync/check line.
fn synced_of(line: &str) -> Option<i64> {
    let mut rest = line;
    while let Some(i) = rest.find('(') {
        let tail = &rest[i + 1..];
        if let Some((done, r)) = tail.split_once('/') {
            if let Some((tot, _)) = r.split_once(')') {
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                if digits(done) && digits(tot) {
                    return done.parse().ok();
                }
            }
        }
        rest = tail;
    }
    None
}

pub fn parse(text: &str) -> Result<Vec<Md>, String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty()
            || line.starts_with(' ')
            || line.starts_with("Personalities")
            || line.starts_with("unused")
        {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 {
            return Err(format!("line {}: not enough fields in {line:?}", i + 1));
        }
        let name = fields[0].to_string();
        let mut state = fields[2].to_string();
        if lines.len() <= i + 3 {
            return Err(format!("{name}: too few lines for md device"));
        }
        let failed = line.matches("(F)").count() as i64;
        let spare = line.matches("(S)").count() as i64;
        let status = lines[i + 1];
        let blocks = int(
            status.split_whitespace().next().unwrap_or(""),
            &format!("{name} size"),
        )?;
        let (active, total) = if line.contains("raid0") || line.contains("linear") {
            // No [n/m] for these: every member is counted by its "[index]".
            let n = line.matches('[').count() as i64;
            (n, n)
        } else if line.contains("inactive") {
            (0, 0)
        } else {
            let (t, a) = disks_of(status)
                .ok_or_else(|| format!("{name}: no [total/active] in {status:?}"))?;
            (a, t)
        };
        let mut sync_idx = i + 2;
        if lines[i + 2].contains("bitmap") {
            sync_idx += 1;
        }
        let sync = lines.get(sync_idx).copied().unwrap_or("");
        let mut synced = blocks;
        if sync.contains("recovery") || sync.contains("resync") || sync.contains("check") {
            state = if sync.contains("recovery") {
                "recovering"
            } else if sync.contains("check") {
                "checking"
            } else {
                "resyncing"
            }
            .to_string();
            synced = if sync.contains("PENDING") || sync.contains("DELAYED") {
                0
            } else {
                synced_of(sync).ok_or_else(|| format!("{name}: no (done/total) in {sync:?}"))?
            };
        }
        out.push(Md {
            name,
            state,
            active,
            failed,
            spare,
            total,
            blocks,
            synced,
        });
    }
    Ok(out)
}

impl Collector for Mdadm {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let text = match super::read(&self.path) {
            Ok(t) => t,
            Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoData("no mdstat".into()))
            }
            Err(e) => return Err(e),
        };
        let mut mds = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        mds.sort_by(|a, b| a.name.cmp(&b.name));
        let mut f = enc.family(
            "node_md_blocks",
            "Total number of blocks on device.",
            MetricType::Gauge,
        );
        for m in &mds {
            f.sample(&[("device", &m.name)], m.blocks as f64);
        }
        let mut f = enc.family(
            "node_md_blocks_synced",
            "Number of blocks synced on device.",
            MetricType::Gauge,
        );
        for m in &mds {
            f.sample(&[("device", &m.name)], m.synced as f64);
        }
        let mut f = enc.family(
            "node_md_disks",
            "Number of active/failed/spare disks of device.",
            MetricType::Gauge,
        );
        for m in &mds {
            f.sample(&[("device", &m.name), ("state", "active")], m.active as f64);
            f.sample(&[("device", &m.name), ("state", "failed")], m.failed as f64);
            f.sample(&[("device", &m.name), ("state", "spare")], m.spare as f64);
        }
        let mut f = enc.family(
            "node_md_disks_required",
            "Total number of disks of device.",
            MetricType::Gauge,
        );
        for m in &mds {
            f.sample(&[("device", &m.name)], m.total as f64);
        }
        let mut f = enc.family(
            "node_md_state",
            "Indicates the state of md-device.",
            MetricType::Gauge,
        );
        // Exported state name, procfs state name.
        const STATES: [(&str, &str); 5] = [
            ("active", "active"),
            ("check", "checking"),
            ("inactive", "inactive"),
            ("recovering", "recovering"),
            ("resync", "resyncing"),
        ];
        for m in &mds {
            for (label, st) in STATES {
                let v = if m.state == st { 1.0 } else { 0.0 };
                f.sample(&[("device", &m.name), ("state", label)], v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server fixture: written from md.rst and the kernel's md.c status output (see
    /// tests/fixtures/server/README.md).
    const SERVER: &str = include_str!("../../tests/fixtures/server/proc/mdstat");

    fn get<'a>(mds: &'a [Md], name: &str) -> &'a Md {
        mds.iter().find(|m| m.name == name).unwrap()
    }

    #[test]
    fn mdstat_server() {
        let mds = parse(SERVER).unwrap();
        assert_eq!(mds.len(), 8);
        let md2 = get(&mds, "md2");
        assert_eq!(
            (md2.state.as_str(), md2.active, md2.failed, md2.total),
            ("active", 3, 1, 4),
            "degraded raid5"
        );
        let md1 = get(&mds, "md1");
        assert_eq!(
            (md1.state.as_str(), md1.synced, md1.blocks),
            ("resyncing", 277297664, 976106496)
        );
        let md4 = get(&mds, "md4");
        assert_eq!((md4.state.as_str(), md4.synced), ("recovering", 61440000));
        let md126 = get(&mds, "md126");
        assert_eq!(
            (
                md126.state.as_str(),
                md126.active,
                md126.spare,
                md126.total,
                md126.synced
            ),
            ("inactive", 0, 2, 0, 6306)
        );
        let md5 = get(&mds, "md5");
        assert_eq!((md5.active, md5.total), (2, 2), "raid0 counts members");
        let md127 = get(&mds, "md127");
        assert_eq!(
            (md127.state.as_str(), md127.synced),
            ("resyncing", 0),
            "resync=PENDING"
        );
        assert_eq!(get(&mds, "md3").spare, 1);
    }

    #[test]
    fn mdstat_malformed() {
        assert_eq!(
            parse("Personalities : [raid1]\nunused devices: <none>\n").unwrap(),
            vec![]
        );
        assert!(parse("md0 : active\n").is_err(), "too few fields");
        assert!(
            parse("md0 : active raid1 sda1[0]\n").is_err(),
            "too few lines"
        );
        assert!(parse("md0 : active raid1 sda1[0]\n      x blocks\n\n\n").is_err());
        assert!(parse("md0 : active raid1 sda1[0]\n      10 blocks [2]\n\n\n").is_err());
        assert!(parse("md0 : active raid1 sda1[0]\n      10 blocks [2/1] [U_]\n      recovery = 1% (x/10)\n\n").is_err());
    }
}
