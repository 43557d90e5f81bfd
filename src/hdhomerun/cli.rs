//! `promlet hdhomerun discover [ADDRESS] | get DEVICE ITEM | set DEVICE ITEM VALUE`: the
//! everyday commands of SiliconDust's `hdhomerun_config`, with its output and exit codes
//! (value or device error on stdout, 0 only on success), except that DEVICE may also be a
//! hostname or `IP:PORT` and promlet connects directly instead of discovering first.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::{client, discover, exporter::parse_target};
use crate::flags::{parse_duration, Error as FlagError, Flags, Spec};

const USAGE: &str =
    "promlet hdhomerun [<flags>] discover [ADDRESS] | get DEVICE ITEM | set DEVICE ITEM VALUE\n\n\
  DEVICE and ADDRESS are an IP address, IP:PORT or a hostname (port 65001 by default).\n\
  discover without ADDRESS broadcasts to 255.255.255.255.";

fn specs() -> Vec<Spec> {
    vec![
        Spec::value(
            "timeout",
            Some("1s"),
            "Deadline for connecting and for each request; how long discover waits for replies.",
        ),
        Spec::value(
            "key",
            None,
            "Tuner lock key sent with set (decimal or 0x hex), like hdhomerun_config's `key`.",
        ),
    ]
}

pub fn main(args: &[String]) -> i32 {
    let flags = match Flags::parse(USAGE, specs(), args.iter().cloned()) {
        Ok(f) => f,
        Err(FlagError::Help(h)) => {
            print!("{h}");
            return 0;
        }
        Err(FlagError::Version) => {
            print!("{}", crate::version_text());
            return 0;
        }
        Err(FlagError::Usage(m)) => return usage(&m),
    };
    let timeout = match flags
        .value("timeout")
        .and_then(|v| parse_duration(&v))
        .filter(|d| !d.is_zero())
    {
        Some(t) => t,
        None => return usage("--timeout: bad duration"),
    };
    let key = match flags.value("key") {
        None => None,
        Some(k) => match parse_key(&k) {
            Some(k) => Some(k),
            None => return usage(&format!("--key: bad lock key {k:?}")),
        },
    };
    let pos: Vec<&str> = flags.positional().iter().map(String::as_str).collect();
    match pos.as_slice() {
        ["discover"] => cmd_discover(None, timeout),
        ["discover", addr] => cmd_discover(Some(addr), timeout),
        ["get", dev, item] => cmd_getset(dev, item, None, key, timeout),
        ["set", dev, item, value] => cmd_getset(dev, item, Some(value), key, timeout),
        _ => usage("expected discover, get or set with their arguments"),
    }
}

fn usage(msg: &str) -> i32 {
    eprintln!("promlet hdhomerun: {msg}\nusage: {USAGE}");
    1
}

fn parse_key(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn resolve(target: &str) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = parse_target(target)?;
    let addrs: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host:?}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host:?} resolves to no address"));
    }
    Ok(addrs)
}

fn cmd_discover(addr: Option<&str>, timeout: Duration) -> i32 {
    let target = match addr.map(resolve) {
        None => None,
        // Discovery speaks IPv4 (the devices do).
        Some(Ok(a)) => Some(*a.iter().find(|a| a.is_ipv4()).unwrap_or(&a[0])),
        Some(Err(e)) => {
            eprintln!("invalid ip address: {}: {e}", addr.unwrap_or_default());
            return 1;
        }
    };
    match discover::discover(target, timeout) {
        Err(e) => {
            eprintln!("error sending discover request: {e}");
            1
        }
        Ok(found) if found.is_empty() => {
            println!("no devices found");
            1
        }
        Ok(found) => {
            for d in found {
                println!(
                    "hdhomerun device {:08X} found at {}",
                    d.device_id,
                    discover::ip_text(d.addr.ip())
                );
            }
            0
        }
    }
}

fn cmd_getset(
    dev: &str,
    item: &str,
    value: Option<&str>,
    key: Option<u32>,
    timeout: Duration,
) -> i32 {
    let addrs = match resolve(dev) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("invalid device id: {dev}: {e}");
            return 1;
        }
    };
    let mut last = None;
    let mut conn = None;
    for a in addrs {
        match client::connect(a, timeout) {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(mut c) = conn else {
        let e = last.map(|e| e.to_string()).unwrap_or_default();
        eprintln!("unable to connect to device: {e}");
        return 1;
    };
    c.set_lockkey(key);
    let result = match value {
        None => c.get(item),
        Some(v) => c.set(item, v),
    };
    match result {
        Ok(v) => {
            if value.is_none() {
                println!("{v}");
            }
            0
        }
        Err(e) if e.is_device_error() => {
            println!("{e}");
            1
        }
        Err(e) => {
            eprintln!("communication error sending request to hdhomerun device: {e}");
            1
        }
    }
}
