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

fn field(raw: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub fn uname() -> std::io::Result<Utsname> {
    // SAFETY: utsname is plain old data; uname(2) fills it or fails.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut domainname = field(&u.domainname);
    if domainname.is_empty() {
        domainname = "(none)".into();
    }
    Ok(Utsname {
        sysname: field(&u.sysname),
        nodename: field(&u.nodename),
        release: field(&u.release),
        version: field(&u.version),
        machine: field(&u.machine),
        domainname,
    })
}

impl Collector for Uname {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let u = uname().map_err(|e| Error::Other(format!("uname: {e}")))?;
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
