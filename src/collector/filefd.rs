//! `filefd`: `node_filefd_allocated` and `node_filefd_maximum` from `/proc/sys/fs/file-nr`
//! (proc_sys_fs(5): allocated, free-but-allocated, maximum; tab-separated). As in
//! node_exporter 1.5, a missing or malformed file fails the collector.

use std::path::PathBuf;

use super::{read, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(FileFd {
        path: paths.proc("sys/fs/file-nr"),
    }))
}

struct FileFd {
    path: PathBuf,
}

/// Allocated and maximum file handles.
pub fn parse(text: &str) -> Result<(f64, f64), String> {
    // node_exporter splits on TAB only: the kernel prints "%lu\t%lu\t%lu\n".
    let parts: Vec<&str> = text.trim().split('\t').collect();
    let (Some(a), Some(m)) = (parts.first(), parts.get(2)) else {
        return Err(format!("want 3 tab-separated fields, got {}", parts.len()));
    };
    let num = |s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("not a number: {s:?}"))
    };
    Ok((num(a)?, num(m)?))
}

impl Collector for FileFd {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let text = read(&self.path)?;
        let (allocated, maximum) = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        enc.single(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
            MetricType::Gauge,
            allocated,
        );
        enc.single(
            "node_filefd_maximum",
            "File descriptor statistics: maximum.",
            MetricType::Gauge,
            maximum,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    /// Captured on the x86_64 build VM (Debian 12, kernel 6.18): `/proc/sys/fs/file-nr`.
    const X86_64_SERVER: &str = include_str!("../../tests/fixtures/server/proc/sys/fs/file-nr");

    #[test]
    fn filefd_x86_64_server() {
        assert_eq!(parse(X86_64_SERVER).unwrap(), (594.0, 2466170.0));
    }

    #[test]
    fn filefd_openwrt_router() {
        // OpenWrt 23.05 on a 128 MiB ramips router prints the same three columns.
        assert_eq!(parse("832\t0\t11926\n").unwrap(), (832.0, 11926.0));
    }

    #[test]
    fn filefd_malformed_and_truncated() {
        assert!(parse("").is_err());
        assert!(parse("594\t0").is_err(), "truncated");
        assert!(parse("594 0 2466170\n").is_err(), "spaces, not tabs");
        assert!(parse("x\t0\t1\n").is_err());
        assert!(parse("1\t0\t\n").is_err(), "empty maximum");
    }
}
