//! `entropy`: `node_entropy_available_bits` and `node_entropy_pool_size_bits` from
//! `/proc/sys/kernel/random/{entropy_avail,poolsize}` (random(4)). node_exporter 1.5 fails the
//! collector when either file is missing, and so does this.

use std::path::{Path, PathBuf};

use super::{read, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Entropy {
        avail: paths.proc("sys/kernel/random/entropy_avail"),
        pool: paths.proc("sys/kernel/random/poolsize"),
    }))
}

struct Entropy {
    avail: PathBuf,
    pool: PathBuf,
}

/// One unsigned decimal number, surrounding white space allowed (procfs's ReadUintFromFile).
pub fn parse_uint(text: &str) -> Result<u64, String> {
    let t = text.trim();
    t.parse().map_err(|_| format!("not a number: {t:?}"))
}

fn read_uint(path: &Path) -> Result<u64, Error> {
    parse_uint(&read(path)?).map_err(|msg| Error::Parse {
        path: path.to_path_buf(),
        msg,
    })
}

impl Collector for Entropy {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let avail = read_uint(&self.avail)?;
        let pool = read_uint(&self.pool)?;
        enc.single(
            "node_entropy_available_bits",
            "Bits of available entropy.",
            MetricType::Gauge,
            avail as f64,
        );
        enc.single(
            "node_entropy_pool_size_bits",
            "Bits of entropy pool.",
            MetricType::Gauge,
            pool as f64,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_uint;

    /// Captured on the x86_64 build VM (Debian 12, kernel 6.18).
    const AVAIL: &str =
        include_str!("../../tests/fixtures/server/proc/sys/kernel/random/entropy_avail");
    const POOL: &str = include_str!("../../tests/fixtures/server/proc/sys/kernel/random/poolsize");

    #[test]
    fn entropy_x86_64_server() {
        // Since Linux 5.18 both are fixed at 256.
        assert_eq!(parse_uint(AVAIL).unwrap(), 256);
        assert_eq!(parse_uint(POOL).unwrap(), 256);
    }

    #[test]
    fn entropy_malformed() {
        assert!(parse_uint("").is_err());
        assert!(parse_uint("-1\n").is_err());
        assert!(parse_uint("12 34\n").is_err());
        assert_eq!(parse_uint(" 4096\n").unwrap(), 4096);
    }
}
