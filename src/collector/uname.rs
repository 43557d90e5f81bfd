//! `uname`: node_uname_info from uname(2), the series Grafana's "Node Exporter Full" keys its
//! job/nodename/instance variables on. The domain name is "(none)" when unset, as the kernel
//! itself reports it in /proc/sys/kernel/domainname.

use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(_: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Uname))
}

struct Uname;

/// The six uname(2) fields, lossily decoded.
pub struct Utsname {
    pub sysname: String,
    pub nodename: String,
    pub release: String,
    pub version: String,
    pub machine: String,
    pub domainname: String,
}

fn field(raw: &std::ffi::CStr) -> String {
    raw.to_string_lossy().into_owned()
}

/// uname(2), through rustix (it cannot fail for a valid buffer).
pub fn uname() -> Utsname {
    let u = rustix::system::uname();
    let mut domainname = field(u.domainname());
    if domainname.is_empty() {
        domainname = "(none)".into();
    }
    Utsname {
        sysname: field(u.sysname()),
        nodename: field(u.nodename()),
        release: field(u.release()),
        version: field(u.version()),
        machine: field(u.machine()),
        domainname,
    }
}

impl Collector for Uname {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let u = uname();
        enc.family(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
            MetricType::Gauge,
        )
        .sample(
            &[
                ("domainname", &u.domainname),
                ("machine", &u.machine),
                ("nodename", &u.nodename),
                ("release", &u.release),
                ("sysname", &u.sysname),
                ("version", &u.version),
            ],
            1.0,
        );
        Ok(())
    }
}
