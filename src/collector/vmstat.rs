//! `vmstat`: the `/proc/vmstat` counters (`name value` lines) that `--collector.vmstat.fields`
//! selects, as node_exporter 1.5's untyped `node_vmstat_<name>`. As in 1.5, every value must be
//! a number (selected or not) and a missing file is an error.

use std::path::PathBuf;

use super::pattern::FieldFilter;
use super::{read, Collector, Error, Paths};
use crate::expfmt::{is_metric_name, Encoder, MetricType};
use crate::flags::{Flags, Spec};

/// node_exporter 1.5's default for `--collector.vmstat.fields` (open at the end).
pub const DEFAULT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

pub fn flags() -> Vec<Spec> {
    vec![Spec::value(
        "collector.vmstat.fields",
        Some(DEFAULT_FIELDS),
        "Regexp of fields to return for vmstat collector.",
    )]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    let re = flags
        .value("collector.vmstat.fields")
        .unwrap_or_else(|| DEFAULT_FIELDS.to_string());
    Ok(Box::new(Vmstat {
        path: paths.proc("vmstat"),
        fields: FieldFilter::new(&re).map_err(|e| format!("bad regexp {re:?}: {e}"))?,
    }))
}

struct Vmstat {
    path: PathBuf,
    fields: FieldFilter,
}

/// Every `name value` line, in file order.
pub fn parse(text: &str) -> Result<Vec<(&str, f64)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut it = line.split_ascii_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            return Err(format!("line {n}: want `name value`, got {line:?}"));
        };
        let v = v
            .parse::<f64>()
            .map_err(|_| format!("line {n}: {k}: not a number: {v:?}"))?;
        out.push((k, v));
    }
    Ok(out)
}

impl Collector for Vmstat {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let text = read(&self.path)?;
        let rows = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        let mut name = String::with_capacity(48);
        let mut help = String::with_capacity(64);
        for (k, v) in rows {
            if !self.fields.is_match(k) {
                continue;
            }
            name.clear();
            name.push_str("node_vmstat_");
            name.push_str(k);
            if !is_metric_name(&name) {
                continue;
            }
            help.clear();
            help.push_str("/proc/vmstat information field ");
            help.push_str(k);
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
    const X86_64_SERVER: &str = include_str!("../../tests/fixtures/server/proc/vmstat");

    #[test]
    fn vmstat_x86_64_server() {
        let rows = parse(X86_64_SERVER).unwrap();
        assert_eq!(rows.len(), X86_64_SERVER.lines().count());
        let f = FieldFilter::new(DEFAULT_FIELDS).unwrap();
        let mut picked: Vec<&str> = rows.iter().map(|r| r.0).filter(|k| f.is_match(k)).collect();
        picked.sort();
        assert_eq!(
            picked,
            [
                "oom_kill",
                "pgfault",
                "pgmajfault",
                "pgpgin",
                "pgpgout",
                "pswpin",
                "pswpout"
            ]
        );
    }

    #[test]
    fn vmstat_malformed_and_truncated() {
        assert!(parse("nr_free_pages\n").is_err(), "truncated");
        assert!(parse("nr_free_pages x\n").is_err());
        assert!(parse("\n").is_err(), "empty line");
        assert_eq!(parse("oom_kill 3\n").unwrap(), [("oom_kill", 3.0)]);
    }
}
