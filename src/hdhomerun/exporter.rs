//! The multi-target exporter behind `GET /hdhomerun?target=HOST[:PORT]`: one control
//! connection per scrape, `/sys/model`, `/sys/hwmodel`, `/sys/version`, then `/tunerN/debug`
//! for N = 0, 1, … until the device answers "unknown getset variable", and
//! `/tunerN/streaminfo` for tuners that are locked. Output is the Prometheus text format.
//!
//! Metric names are a superset of mdlayher/hdhomerun_exporter's (all gauges, ratios are the
//! device's percentages / 100, CableCARD figures come from the first tuner that reports
//! them), plus `hdhomerun_up` and `hdhomerun_scrape_duration_seconds`: a device that cannot
//! be reached or answers nonsense gives a 200 with `hdhomerun_up 0`, so an alert can see it,
//! instead of mdlayher's 500 that only Prometheus's own `up` would show.
//!
//! This module depends on the narrow [`Device`] and [`Connect`] traits, not on the client,
//! so its logic is tested against a map of canned answers.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::status::{self, Debug, Tuner};
use crate::expfmt::{self, Encoder, MetricType};
use crate::httpd::{Request, Response};

/// Why a `get` failed, as far as the exporter cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetError {
    /// The device does not know the item (the end of the tuner list).
    NotFound,
    /// The device reported another error for this item; the connection is still usable.
    Device(String),
    /// The connection failed or the reply was unusable; the scrape cannot go on.
    Failed(String),
}

/// A device that answers getset queries.
pub trait Device {
    fn get(&mut self, item: &str) -> Result<String, GetError>;
}

/// Opens a connection to a device, bounded by `deadline`.
pub trait Connect: Send + Sync {
    type Dev: Device;
    fn connect(&self, addr: SocketAddr, deadline: Instant) -> Result<Self::Dev, String>;
}

/// A device never has more tuners than this; the walk stops here even if it keeps answering.
const MAX_TUNERS: usize = 64;

/// Everything one scrape learnt, gathered before anything is written so a failure half way
/// leaves no partial families behind.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub model: String,
    pub hwmodel: String,
    pub version: String,
    pub tuners: Vec<TunerSnapshot>,
}

#[derive(Debug, Default)]
pub struct TunerSnapshot {
    pub debug: Debug,
    /// Programs on the tuned channel (locked tuners whose device answers streaminfo).
    pub programs: Option<usize>,
}

impl TunerSnapshot {
    fn tuner(&self) -> Tuner {
        self.debug.tuner.clone().unwrap_or_default()
    }
}

/// Reads everything the exporter shows from `dev`.
pub fn collect(dev: &mut dyn Device) -> Result<Snapshot, String> {
    let model = dev
        .get("/sys/model")
        .map_err(|e| item_error("/sys/model", e))?;
    let mut snap = Snapshot {
        model: status::parse_model(&model),
        hwmodel: optional(dev, "/sys/hwmodel")?
            .map(|s| status::parse_model(&s))
            .unwrap_or_default(),
        version: optional(dev, "/sys/version")?
            .map(|s| status::parse_version(&s).raw)
            .unwrap_or_default(),
        tuners: Vec::new(),
    };
    for n in 0..MAX_TUNERS {
        let item = format!("/tuner{n}/debug");
        let mut debug = match dev.get(&item) {
            Ok(v) => status::parse_debug(&v),
            Err(GetError::NotFound) => break,
            Err(e) => return Err(item_error(&item, e)),
        };
        // Firmware without a `tun:` line in debug still has the same fields in status.
        if debug.tuner.is_none() {
            if let Some(s) = optional(dev, &format!("/tuner{n}/status"))? {
                debug.tuner = Some(status::parse_status(&s));
            }
        }
        let locked = debug.tuner.as_ref().is_some_and(Tuner::locked);
        let programs = if locked {
            optional(dev, &format!("/tuner{n}/streaminfo"))?
                .map(|s| status::parse_streaminfo(&s).programs.len())
        } else {
            None
        };
        snap.tuners.push(TunerSnapshot { debug, programs });
    }
    Ok(snap)
}

/// An item some models lack: a device error is `None`, a broken connection fails the scrape.
fn optional(dev: &mut dyn Device, item: &str) -> Result<Option<String>, String> {
    match dev.get(item) {
        Ok(v) => Ok(Some(v)),
        Err(GetError::NotFound | GetError::Device(_)) => Ok(None),
        Err(e) => Err(item_error(item, e)),
    }
}

fn item_error(item: &str, e: GetError) -> String {
    match e {
        GetError::NotFound => format!("get {item}: unknown getset variable"),
        GetError::Device(m) | GetError::Failed(m) => format!("get {item}: {m}"),
    }
}

type Value = fn(&TunerSnapshot) -> Option<f64>;

/// Per-tuner gauges: name, help, value (absent values write no sample).
const TUNER_GAUGES: &[(&str, &str, Value)] = &[
    ("hdhomerun_tuner_locked", "Whether this tuner is locked onto a signal (1) or not (0).", |t| {
        t.debug.tuner.as_ref().map(|x| if x.locked() { 1.0 } else { 0.0 })
    }),
    ("hdhomerun_tuner_signal_strength_ratio", "Television signal strength ratio for this tuner.", |t| {
        ratio(t.tuner().ss)
    }),
    ("hdhomerun_tuner_signal_to_noise_ratio", "Television signal-to-noise ratio for this tuner.", |t| {
        ratio(t.tuner().snq)
    }),
    ("hdhomerun_tuner_symbol_error_ratio", "Television symbol error ratio for this tuner.", |t| {
        ratio(t.tuner().seq)
    }),
    ("hdhomerun_tuner_programs", "Number of programs on the channel this tuner is locked onto.", |t| {
        t.programs.map(|n| n as f64)
    }),
    ("hdhomerun_device_bytes_per_second", "Number of bytes per second the demodulator delivers for this tuner.", |t| {
        bytes(t.debug.dev.as_ref()?.bps)
    }),
    ("hdhomerun_device_resync", "Number of re-sync operations due to missing sync byte in the demodulator's stream for this tuner.", |t| {
        float(t.debug.dev.as_ref()?.resync)
    }),
    ("hdhomerun_device_overflow", "Number of demodulator buffer overflows for this tuner.", |t| {
        float(t.debug.dev.as_ref()?.overflow)
    }),
    ("hdhomerun_transport_bytes_per_second", "Number of bytes per second in the transport stream of this tuner.", |t| {
        bytes(t.debug.transport.as_ref()?.bps)
    }),
    ("hdhomerun_transport_utilization_ratio", "Transport stream utilisation ratio for this tuner.", |t| {
        ratio(t.debug.transport.as_ref()?.ut)
    }),
    ("hdhomerun_transport_errors", "Number of transport errors for this tuner.", |t| {
        float(t.debug.transport.as_ref()?.te)
    }),
    ("hdhomerun_transport_sequence_misses", "Number of transport stream sequence misses for this tuner.", |t| {
        float(t.debug.transport.as_ref()?.miss)
    }),
    ("hdhomerun_transport_crc_errors", "Number of transport stream CRC errors for this tuner.", |t| {
        float(t.debug.transport.as_ref()?.crc)
    }),
    ("hdhomerun_network_bytes_per_second", "Number of bytes per second being sent by the device for this tuner.", |t| {
        bytes(t.debug.network.as_ref()?.bps)
    }),
    ("hdhomerun_network_packets_per_second", "Number of packets per second being sent by the device for this tuner.", |t| {
        float(t.debug.network.as_ref()?.pps)
    }),
    ("hdhomerun_network_errors", "Number of device network errors for this tuner.", |t| {
        float(t.debug.network.as_ref()?.err)
    }),
    ("hdhomerun_network_stop_reason", "Why streaming stopped for this tuner: 0 not stopped, 1 intentional, 2 ICMP reject, 3 connection loss, 4 HTTP connection closed.", |t| {
        float(t.debug.network.as_ref()?.stop)
    }),
];

fn ratio(v: Option<u64>) -> Option<f64> {
    v.map(|n| n as f64 / 100.0)
}
fn bytes(bps: Option<u64>) -> Option<f64> {
    bps.map(|n| n as f64 / 8.0)
}
fn float(v: Option<u64>) -> Option<f64> {
    v.map(|n| n as f64)
}

/// Writes a snapshot's families.
pub fn write(snap: &Snapshot, enc: &mut Encoder) {
    enc.family(
        "hdhomerun_device_info",
        "Metadata about the device.",
        MetricType::Gauge,
    )
    .sample(
        &[
            ("hwmodel", &snap.hwmodel),
            ("model", &snap.model),
            ("version", &snap.version),
        ],
        1.0,
    );
    enc.single(
        "hdhomerun_tuners",
        "Number of tuners the device has.",
        MetricType::Gauge,
        snap.tuners.len() as f64,
    );
    let names: Vec<String> = (0..snap.tuners.len()).map(|n| n.to_string()).collect();
    if !snap.tuners.is_empty() {
        let mut f = enc.family(
            "hdhomerun_tuner_info",
            "Metadata about each of the tuners available to a device.",
            MetricType::Gauge,
        );
        for (t, name) in snap.tuners.iter().zip(&names) {
            let tu = t.tuner();
            f.sample(
                &[
                    ("channel", &tu.channel),
                    ("lock", &tu.lock),
                    ("tuner", name),
                ],
                1.0,
            );
        }
    }
    for (name, help, value) in TUNER_GAUGES {
        let samples: Vec<(&str, f64)> = snap
            .tuners
            .iter()
            .zip(&names)
            .filter_map(|(t, n)| Some((n.as_str(), value(t)?)))
            .collect();
        if samples.is_empty() {
            continue;
        }
        let mut f = enc.family(name, help, MetricType::Gauge);
        for (n, v) in samples {
            f.sample(&[("tuner", n)], v);
        }
    }
    // mdlayher reports the CableCARD once, unlabelled: it is shared by all tuners.
    if let Some(cc) = snap.tuners.iter().find_map(|t| t.debug.cablecard.as_ref()) {
        let rows: [(&str, &str, Option<f64>); 3] = [
            ("hdhomerun_cablecard_bytes_per_second", "Number of bytes per second being received by the CableCARD.", bytes(cc.bps)),
            ("hdhomerun_cablecard_overflow", "Number of buffer overflows for the CableCARD.", float(cc.overflow)),
            ("hdhomerun_cablecard_resync", "Number of re-sync operations due to missing sync byte in transport stream for the CableCARD.", float(cc.resync)),
        ];
        for (name, help, v) in rows {
            if let Some(v) = v {
                enc.single(name, help, MetricType::Gauge, v);
            }
        }
    }
}

/// A `?target=` value split into host and port (65001 when absent): `host`, `host:port`,
/// `a.b.c.d:port`, `[v6]:port`, or a bare IPv6 address.
pub fn parse_target(t: &str) -> Result<(String, u16), String> {
    let t = t.trim();
    let bad = || format!("bad target {t:?}: want HOST or HOST:PORT");
    if t.is_empty() || t.contains(['/', '@', ' ', '?', '#']) {
        return Err(bad());
    }
    let (host, port) = if let Some(rest) = t.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else if t.matches(':').count() == 1 {
        let (h, p) = t.split_once(':').ok_or_else(bad)?;
        (h, Some(p))
    } else {
        (t, None)
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        None => super::client::PORT,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?,
    };
    Ok((host.to_string(), port))
}

/// A network in the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `192.168.1.0/24`, `fd00::/8`, or a single address.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let bad = || format!("bad network {s:?}: want an address or address/prefix");
        let (a, p) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (a, b, bits) = match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let p = u32::from(self.prefix);
        if p == 0 {
            return true;
        }
        let shift = bits - p;
        (a >> shift) == (b >> shift)
    }
}

/// Where HDHomeRun devices live: the private (RFC 1918), link-local (169.254/16, fe80::/10)
/// and unique-local (fc00::/7) networks. `/hdhomerun` connects only there unless
/// `--hdhomerun.allowed-targets` says otherwise, so it cannot be used to probe promlet's own
/// loopback services or hosts on the internet (its duration metric tells open, closed and
/// silent ports apart).
pub const DEFAULT_ALLOWED: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "fe80::/10",
    "fc00::/7",
];

/// [`DEFAULT_ALLOWED`] as networks.
pub fn default_allowed() -> Vec<Cidr> {
    DEFAULT_ALLOWED
        .iter()
        .filter_map(|c| Cidr::parse(c).ok())
        .collect()
}

/// Exporter settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The networks targets may be in (an address is checked after resolving, so `127.1`,
    /// `2130706433` or a name are judged by the address they stand for). Empty: none.
    pub allowed: Vec<Cidr>,
    /// The whole scrape's budget when Prometheus does not announce its own.
    pub scrape_timeout: Duration,
}

/// Serves `/hdhomerun`.
pub struct Exporter<C> {
    pub connector: C,
    pub settings: Settings,
    pub stats: std::sync::Arc<Stats>,
}

/// Counters for promlet's own `/metrics`.
#[derive(Default, Debug)]
pub struct Stats {
    pub scrapes: crate::atomic64::AtomicU64,
    pub failures: crate::atomic64::AtomicU64,
    pub denied: crate::atomic64::AtomicU64,
}

static DEVICES: crate::log::StateLog = crate::log::StateLog::new("hdhomerun device");

/// Headroom left of Prometheus's scrape timeout for writing the answer.
const TIMEOUT_OFFSET: Duration = Duration::from_millis(250);

impl Settings {
    /// Whether `/hdhomerun` may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allowed.iter().any(|c| c.contains(ip))
    }
}

impl<C: Connect> Exporter<C> {
    pub fn handle(&self, req: &Request) -> Response {
        use std::sync::atomic::Ordering::Relaxed;
        let start = Instant::now();
        let Some(target) = req.query_param("target").filter(|t| !t.is_empty()) else {
            return Response::text(400, "missing target parameter");
        };
        let (host, port) = match parse_target(&target) {
            Ok(hp) => hp,
            Err(e) => return Response::text(400, e),
        };
        let mut budget = self.settings.scrape_timeout;
        if let Some(t) = req.scrape_timeout() {
            budget = budget.min(
                t.checked_sub(TIMEOUT_OFFSET)
                    .unwrap_or(t / 2)
                    .max(Duration::from_millis(100)),
            );
        }
        let deadline = start + budget;
        // Resolve once and connect to exactly the address that was checked.
        let addrs: Vec<SocketAddr> = match resolve(&host, port, deadline) {
            Ok(a) => a,
            Err(e) => {
                // Unknown host: nothing was connected to, so nothing is learnt about a port.
                self.stats.scrapes.fetch_add(1, Relaxed);
                return self.failure(&target, start, e);
            }
        };
        let allowed: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| self.settings.allows(a.ip()))
            .collect();
        if allowed.is_empty() {
            self.stats.denied.fetch_add(1, Relaxed);
            return Response::text(403, format!("target {target:?} is not allowed"));
        }
        self.stats.scrapes.fetch_add(1, Relaxed);
        // A name may resolve to several addresses (localhost: ::1 and 127.0.0.1): the first
        // that accepts the connection is scraped.
        let mut conn = Err(String::new());
        for addr in allowed {
            conn = self.connector.connect(addr, deadline);
            if conn.is_ok() {
                break;
            }
        }
        let snap = conn.and_then(|mut dev| collect(&mut dev));
        match snap {
            Ok(snap) => {
                DEVICES.ok(&target);
                let mut enc = Encoder::new();
                write(&snap, &mut enc);
                finish(enc, 1.0, start)
            }
            Err(e) => self.failure(&target, start, e),
        }
    }

    fn failure(&self, target: &str, start: Instant, err: String) -> Response {
        self.stats
            .failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Logged when the device goes down and when it comes back, not once per scrape.
        DEVICES.failed(target, &err);
        finish(Encoder::new(), 0.0, start)
    }
}

/// Resolves `host` within the scrape's deadline. getaddrinfo has no timeout of its own, so a
/// name is looked up on a helper thread that is abandoned if the resolver hangs.
fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_string();
    std::thread::Builder::new()
        .name("hdhomerun-dns".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let r = (name.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>());
            let _ = tx.send(r);
        })
        .map_err(|e| format!("resolve {host:?}: {e}"))?;
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Ok(a)) if !a.is_empty() => Ok(a),
        Ok(Ok(_)) => Err(format!("resolve {host:?}: no address")),
        Ok(Err(e)) => Err(format!("resolve {host:?}: {e}")),
        Err(_) => Err(format!("resolve {host:?}: timed out")),
    }
}

fn finish(mut enc: Encoder, up: f64, start: Instant) -> Response {
    enc.single(
        "hdhomerun_up",
        "Whether the HDHomeRun device answered the scrape (1) or not (0).",
        MetricType::Gauge,
        up,
    );
    enc.single(
        "hdhomerun_scrape_duration_seconds",
        "Time the scrape of the HDHomeRun device took.",
        MetricType::Gauge,
        start.elapsed().as_secs_f64(),
    );
    Response::new(200, expfmt::CONTENT_TYPE, enc.into_bytes())
}

/// The allow-list as text, for the startup log.
pub fn describe(allowed: &[Cidr]) -> String {
    if allowed.is_empty() {
        return "none".into();
    }
    let mut s = String::new();
    for (i, c) in allowed.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{}/{}", c.addr, c.prefix);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    struct Canned(HashMap<String, Result<String, GetError>>, Vec<String>);

    impl Device for Canned {
        fn get(&mut self, item: &str) -> Result<String, GetError> {
            self.1.push(item.to_string());
            self.0.get(item).cloned().unwrap_or(Err(GetError::NotFound))
        }
    }

    fn device(tuners: usize) -> Canned {
        let mut m = HashMap::new();
        m.insert("/sys/model".into(), Ok("hdhomerun4_atsc".into()));
        m.insert("/sys/hwmodel".into(), Ok("HDHR4-2US".into()));
        m.insert("/sys/version".into(), Ok("20200907".into()));
        for n in 0..tuners {
            let dbg = if n == 0 {
                "tun: ch=auto:21 lock=8vsb:515000000 ss=80 snq=76 seq=100 dbg=-514/13110\n\
                 dev: bps=19394080 resync=0 overflow=0\nts:  bps=19394080 te=0 crc=0\n\
                 net: pps=1451 err=0 stop=0\n"
            } else {
                "tun: ch=none lock=none ss=0 snq=0 seq=0 dbg=0\ndev: bps=0 resync=0 overflow=0\n\
                 cc:  bps=800 resync=1 overflow=2\nts:  bps=0 te=0 crc=0\nnet: pps=0 err=0 stop=0\n"
            };
            m.insert(format!("/tuner{n}/debug"), Ok(dbg.into()));
        }
        m.insert(
            "/tuner0/streaminfo".into(),
            Ok("3: 6.1 CBMT-DT\n4: 6.2 CBMT-SD\ntsid=0x4467\n".into()),
        );
        Canned(m, Vec::new())
    }

    fn text(snap: &Snapshot) -> String {
        let mut enc = Encoder::new();
        write(snap, &mut enc);
        String::from_utf8(enc.into_bytes()).unwrap()
    }

    #[test]
    fn walks_tuners_once_each_until_not_found() {
        let mut d = device(2);
        let snap = collect(&mut d).unwrap();
        assert_eq!(snap.tuners.len(), 2);
        assert_eq!(
            d.1,
            [
                "/sys/model",
                "/sys/hwmodel",
                "/sys/version",
                "/tuner0/debug",
                "/tuner0/streaminfo",
                "/tuner1/debug",
                "/tuner2/debug"
            ]
        );
        let t = text(&snap);
        for want in [
            "hdhomerun_device_info{hwmodel=\"HDHR4-2US\",model=\"hdhomerun4_atsc\",version=\"20200907\"} 1\n",
            "hdhomerun_tuners 2\n",
            "hdhomerun_tuner_info{channel=\"auto:21\",lock=\"8vsb:515000000\",tuner=\"0\"} 1\n",
            "hdhomerun_tuner_info{channel=\"none\",lock=\"none\",tuner=\"1\"} 1\n",
            "hdhomerun_tuner_signal_strength_ratio{tuner=\"0\"} 0.8\n",
            "hdhomerun_tuner_signal_to_noise_ratio{tuner=\"0\"} 0.76\n",
            "hdhomerun_tuner_symbol_error_ratio{tuner=\"0\"} 1\n",
            "hdhomerun_tuner_programs{tuner=\"0\"} 2\n",
            "hdhomerun_network_packets_per_second{tuner=\"0\"} 1451\n",
            "hdhomerun_device_bytes_per_second{tuner=\"0\"} 2424260\n",
            "hdhomerun_cablecard_bytes_per_second 100\n",
            "hdhomerun_cablecard_overflow 2\n",
            "hdhomerun_cablecard_resync 1\n",
        ] {
            assert!(t.contains(want), "missing {want:?} in\n{t}");
        }
        assert!(!t.contains("hdhomerun_tuner_programs{tuner=\"1\"}"));
    }

    #[test]
    fn optional_items_and_errors() {
        let mut d = device(1);
        d.0.remove("/sys/hwmodel");
        d.0.insert(
            "/sys/version".into(),
            Err(GetError::Device("ERROR: access denied".into())),
        );
        let snap = collect(&mut d).unwrap();
        assert_eq!(snap.hwmodel, "");
        assert_eq!(snap.version, "");
        // A broken connection anywhere fails the scrape with the item named.
        let mut d = device(3);
        d.0.insert(
            "/tuner1/debug".into(),
            Err(GetError::Failed(
                "no reply from device before the deadline".into(),
            )),
        );
        assert_eq!(
            collect(&mut d).unwrap_err(),
            "get /tuner1/debug: no reply from device before the deadline"
        );
        // So does a model the device refuses.
        let mut d = device(1);
        d.0.insert("/sys/model".into(), Err(GetError::NotFound));
        assert!(collect(&mut d).is_err());
    }

    #[test]
    fn status_fills_in_when_debug_has_no_tuner_line() {
        let mut d = device(1);
        d.0.insert(
            "/tuner0/debug".into(),
            Ok("net: pps=3 err=0 stop=0\n".into()),
        );
        d.0.insert(
            "/tuner0/status".into(),
            Ok("ch=qam:33 lock=qam256 ss=83 snq=90 seq=100 bps=38807712 pps=0".into()),
        );
        let snap = collect(&mut d).unwrap();
        assert_eq!(snap.tuners[0].tuner().lock, "qam256");
        assert_eq!(snap.tuners[0].programs, Some(2));
    }

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("10.0.0.5").unwrap(),
            ("10.0.0.5".into(), 65001)
        );
        assert_eq!(
            parse_target("hdhr.lan:1234").unwrap(),
            ("hdhr.lan".into(), 1234)
        );
        assert_eq!(parse_target("[fd00::1]:5").unwrap(), ("fd00::1".into(), 5));
        assert_eq!(parse_target("fd00::1").unwrap(), ("fd00::1".into(), 65001));
        for bad in [
            "",
            "h:",
            "h:0",
            "h:99999",
            "http://x/",
            "[::1",
            "[::1]x",
            "a b",
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?}");
        }
    }

    /// The default allow-list: where HDHomeRun devices live, and nothing else.
    #[test]
    fn default_targets_are_private_link_local_and_unique_local() {
        let s = Settings {
            allowed: default_allowed(),
            scrape_timeout: Duration::from_secs(1),
        };
        assert_eq!(s.allowed.len(), DEFAULT_ALLOWED.len());
        for ok in [
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.20",
            "169.254.10.3",
            "fe80::1",
            "febf::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:192.168.1.20",
        ] {
            assert!(s.allows(ok.parse().unwrap()), "{ok} refused");
        }
        for no in [
            "127.0.0.1",
            "127.255.0.1",
            "0.0.0.0",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.64.0.1",
            "192.169.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "fec0::1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!s.allows(no.parse().unwrap()), "{no} allowed");
        }
        assert_eq!(
            describe(&s.allowed),
            "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,fe80::/10,fc00::/7"
        );
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("192.168.1.0/24").unwrap();
        assert!(c.contains(Ipv4Addr::new(192, 168, 1, 77).into()));
        assert!(!c.contains(Ipv4Addr::new(192, 168, 2, 1).into()));
        assert!(c.contains("::ffff:192.168.1.9".parse().unwrap()));
        assert!(!c.contains("fd00::1".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains(Ipv4Addr::LOCALHOST.into()));
        assert!(!one.contains(Ipv4Addr::new(127, 0, 0, 2).into()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains(Ipv4Addr::new(8, 8, 8, 8).into()));
        assert!(Cidr::parse("fd00::/8")
            .unwrap()
            .contains("fdff::1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "x/8", "fd00::/129", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }
}
