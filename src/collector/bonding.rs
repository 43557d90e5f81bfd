//! `bonding`: configured and active slaves of each bonding master, from
//! `/sys/class/net/bonding_masters`, `<master>/bonding/slaves` and each slave's
//! `bonding_slave/mii_status` (Documentation/networking/bonding.rst, "sysfs"), as
//! node_exporter 1.5's `bonding_linux.go`.

use std::path::PathBuf;

use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Bonding {
        dir: paths.sys("class/net"),
    }))
}

struct Bonding {
    dir: PathBuf,
}

/// Per master (file order): slaves configured, slaves whose MII status is up.
fn stats(root: &std::path::Path) -> Result<Vec<(String, usize, usize)>, Error> {
    let masters = match super::read(&root.join("bonding_masters")) {
        Ok(t) => t,
        Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NoData("no bonding_masters".into()))
        }
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for m in masters.split_whitespace() {
        let slaves = super::read(&root.join(m).join("bonding/slaves"))?;
        let mut active = 0;
        let mut count = 0;
        for s in slaves.split_whitespace() {
            count += 1;
            // Kernels since 4.13 link the slave as lower_<slave>, older ones as slave_<slave>.
            let lower = root
                .join(m)
                .join(format!("lower_{s}/bonding_slave/mii_status"));
            let state = match super::read(&lower) {
                Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
                    super::read(
                        &root
                            .join(m)
                            .join(format!("slave_{s}/bonding_slave/mii_status")),
                    )?
                }
                r => r?,
            };
            if state.trim() == "up" {
                active += 1;
            }
        }
        out.push((m.to_string(), count, active));
    }
    Ok(out)
}

impl Collector for Bonding {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let st = stats(&self.dir)?;
        let mut f = enc.family(
            "node_bonding_slaves",
            "Number of configured slaves per bonding interface.",
            MetricType::Gauge,
        );
        for (m, n, _) in &st {
            f.sample(&[("master", m)], *n as f64);
        }
        let mut f = enc.family(
            "node_bonding_active",
            "Number of active slaves per bonding interface.",
            MetricType::Gauge,
        );
        for (m, _, a) in &st {
            f.sample(&[("master", m)], *a as f64);
        }
        Ok(())
    }
}
