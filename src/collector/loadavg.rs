//! `loadavg`: node_load1, node_load5, node_load15 from `/proc/loadavg` (proc(5)).

use super::{read, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;
use std::path::PathBuf;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(LoadAvg {
        path: paths.proc("loadavg"),
    }))
}

struct LoadAvg {
    path: PathBuf,
}

/// The three load averages from the text of `/proc/loadavg`.
pub fn parse(text: &str) -> Result<[f64; 3], String> {
    let mut it = text.split_whitespace();
    let mut out = [0.0; 3];
    for (i, slot) in out.iter_mut().enumerate() {
        let field = it
            .next()
            .ok_or_else(|| format!("missing field {}", i + 1))?;
        *slot = field
            .parse()
            .map_err(|_| format!("field {} is not a number: {field:?}", i + 1))?;
    }
    Ok(out)
}

impl Collector for LoadAvg {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let text = read(&self.path)?;
        let [l1, l5, l15] = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        enc.single("node_load1", "1m load average.", MetricType::Gauge, l1);
        enc.single("node_load5", "5m load average.", MetricType::Gauge, l5);
        enc.single("node_load15", "15m load average.", MetricType::Gauge, l15);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn loadavg_x86_64_server() {
        // Debian 12 x86_64 server (this build machine).
        assert_eq!(
            parse("0.52 0.58 0.59 2/312 98231\n").unwrap(),
            [0.52, 0.58, 0.59]
        );
    }

    #[test]
    fn loadavg_truncated_and_garbage() {
        assert!(parse("0.52 0.58").is_err());
        assert!(parse("").is_err());
        assert!(parse("a b c").is_err());
    }
}
