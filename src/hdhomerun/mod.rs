//! HDHomeRun: the control protocol (TCP and UDP port 65001, as spoken by SiliconDust's
//! libhdhomerun), a vendor-compatible CLI (`promlet hdhomerun discover|get|set`) and a
//! multi-target exporter at `/hdhomerun?target=HOST[:PORT]`.
//!
//! Layers, bottom up: [`packet`] (frames and tags, no I/O), [`client`] (getset over any
//! stream with deadlines), [`discover`] (UDP), [`status`] (pure parsers of the text items),
//! [`exporter`] (depends on two small traits; this file plugs the TCP client into them).

pub mod cli;
pub mod client;
pub mod discover;
pub mod exporter;
pub mod packet;
pub mod status;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::expfmt::{Encoder, MetricType};
use crate::flags::{parse_duration, Flags, Spec};
use crate::httpd::{Request, Route};
use crate::part::{Entry, Part};
use client::{Client, Transport};
use exporter::{Cidr, Connect, Exporter, GetError, Settings, Stats};

pub const PART: Entry = Entry {
    name: "hdhomerun",
    flags: specs,
    init,
    reloads: false,
};

fn specs() -> Vec<Spec> {
    vec![
        Spec::switch("hdhomerun.exporter", true, "Serve /hdhomerun?target=HOST[:PORT], the HDHomeRun exporter."),
        Spec::repeated("hdhomerun.allowed-targets", "Networks /hdhomerun may connect to, as CIDRs (repeat the flag or separate with commas), checked after resolving; replaces the default: the private, link-local and unique-local networks (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, fe80::/10, fc00::/7)."),
        Spec::value("hdhomerun.timeout", Some("1s"), "Deadline for connecting to a device and for each request to it."),
        Spec::value("hdhomerun.scrape-timeout", Some("10s"), "Deadline for a whole scrape; a shorter X-Prometheus-Scrape-Timeout-Seconds wins."),
    ]
}

fn duration_flag(flags: &Flags, name: &str) -> Result<Duration, String> {
    let v = flags.value(name).unwrap_or_default();
    parse_duration(&v)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("--{name}: bad duration {v:?}"))
}

fn init(flags: &Flags) -> Result<Option<Arc<dyn Part>>, String> {
    if !flags.switch("hdhomerun.exporter") {
        return Ok(None);
    }
    let mut allowed = Vec::new();
    for v in flags.values("hdhomerun.allowed-targets") {
        for c in v.split(',').filter(|s| !s.trim().is_empty()) {
            allowed.push(Cidr::parse(c).map_err(|e| format!("--hdhomerun.allowed-targets: {e}"))?);
        }
    }
    if allowed.is_empty() {
        allowed = exporter::default_allowed();
    }
    let timeout = duration_flag(flags, "hdhomerun.timeout")?;
    let scrape_timeout = duration_flag(flags, "hdhomerun.scrape-timeout")?;
    crate::info!(
        "hdhomerun exporter at /hdhomerun, allowed targets: {}",
        exporter::describe(&allowed)
    );
    let stats = Arc::new(Stats::default());
    Ok(Some(Arc::new(HdHomeRun {
        exporter: Arc::new(Exporter {
            connector: Tcp { timeout },
            settings: Settings {
                allowed,
                scrape_timeout,
            },
            stats: stats.clone(),
        }),
        stats,
    })))
}

struct HdHomeRun {
    exporter: Arc<Exporter<Tcp>>,
    stats: Arc<Stats>,
}

impl Part for HdHomeRun {
    fn routes(&self) -> Vec<Route> {
        let e = self.exporter.clone();
        vec![Route::new(
            "/hdhomerun",
            "HDHomeRun exporter (?target=HOST[:PORT])",
            move |req: &Request| e.handle(req),
        )]
    }

    fn write_metrics(&self, enc: &mut Encoder) {
        let s = &self.stats;
        let rows = [
            ("promlet_hdhomerun_scrapes_total", "HDHomeRun device scrapes attempted.", &s.scrapes),
            ("promlet_hdhomerun_scrape_failures_total", "HDHomeRun device scrapes that failed (hdhomerun_up 0).", &s.failures),
            ("promlet_hdhomerun_denied_total", "HDHomeRun scrapes refused because the target is not in --hdhomerun.allowed-targets.", &s.denied),
        ];
        for (name, help, v) in rows {
            enc.single(name, help, MetricType::Counter, v.load(Relaxed) as f64);
        }
    }
}

/// Connects the exporter to devices over TCP.
struct Tcp {
    timeout: Duration,
}

impl Connect for Tcp {
    type Dev = Client<TcpStream>;
    fn connect(&self, addr: SocketAddr, deadline: Instant) -> Result<Self::Dev, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("connect to {addr}: no time left"));
        }
        let mut c = client::connect(addr, self.timeout.min(left)).map_err(|e| e.to_string())?;
        c.set_deadline(Some(deadline));
        Ok(c)
    }
}

impl<S: Transport> exporter::Device for Client<S> {
    fn get(&mut self, item: &str) -> Result<String, GetError> {
        Client::get(self, item).map_err(|e| match e {
            client::Error::NotFound(_) => GetError::NotFound,
            client::Error::Device(m) => GetError::Device(m),
            e => GetError::Failed(e.to_string()),
        })
    }
}
