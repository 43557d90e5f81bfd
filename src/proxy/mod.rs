//! Merging proxy: serves paths that each merge several exporters (HTTP upstreams, files,
//! commands) into one valid text-format exposition, with `exporter_name` on every sample and
//! per-exporter health under promlet's own names (never a bare `up`).
//!
//! Every scrape fetches all of a path's exporters in parallel (one thread each), decodes them
//! with `expfmt`'s parser (0.0.4 or OpenMetrics, gzip), merges them with the rules in
//! [`merge`] and answers within the scraper's `X-Prometheus-Scrape-Timeout-Seconds`. A failed
//! exporter is dropped whole; the others are still served. Peers and pitfalls:
//! `docs/merging-proxy.md` (the cases, and the tools it replaces).

pub mod config;
mod exec;
use crate::httpc as http;
pub mod merge;

use crate::atomic64::AtomicU64;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::expfmt::{self, Decoded, Encoder, Format, MetricType};
use crate::flags::{Flags, Spec};
use crate::httpd::{Request, Response, Route};
use crate::part::{Entry, Part};
use config::{ExporterConfig, PathConfig, Source};

pub const PART: Entry = Entry {
    name: "proxy",
    flags: specs,
    init,
    reloads: true,
};

fn specs() -> Vec<Spec> {
    Vec::new()
}

fn init(flags: &Flags) -> Result<Option<Arc<dyn Part>>, String> {
    let Some(file) = flags.value("config.file") else {
        return Ok(None);
    };
    let telemetry = flags
        .value("web.telemetry-path")
        .unwrap_or_else(|| "/metrics".into());
    let paths = config::load(Path::new(&file), &[telemetry.as_str()])?;
    if paths.is_empty() {
        return Ok(None);
    }
    limit_malloc_arenas();
    Ok(Some(Arc::new(Proxy::new(paths)?)))
}

/// Every scrape decodes upstreams in short-lived threads; glibc would give each its own
/// malloc arena and keep the peaks of all of them. One arena keeps promlet's RSS near one
/// scrape's working set. Buffers up to 8 MiB (bodies, the merged answer) come from that heap,
/// which keeps up to 8 MiB free at its top between scrapes: taking them from fresh mmaps (and
/// returning them) page-faulted every page of every buffer on every scrape, a millisecond or
/// more of a merge. Larger ones still come from mmap and go back on free. The static builds
/// allocate with dlmalloc (one heap, `src/main.rs`) and need nothing.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called once at start, before the proxy's
    // threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 8 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 8 << 20);
    }
}

/// Families promlet writes into every merged answer (so upstreams may not bring them).
const UP: &str = "promlet_exporter_up";
const DURATION: &str = "promlet_exporter_scrape_duration_seconds";
const AGE: &str = "promlet_exporter_data_age_seconds";
const RESERVED: &[&str] = &[UP, DURATION, AGE];

static UPSTREAMS: crate::log::StateLog = crate::log::StateLog::new("exporter");

/// Time kept back from the scraper's timeout for merging and sending.
fn margin(timeout: Duration) -> Duration {
    (timeout / 10).min(Duration::from_millis(500))
}

/// The running proxy: one endpoint per configured path.
pub struct Proxy {
    endpoints: Vec<Arc<Endpoint>>,
}

impl Proxy {
    pub fn new(paths: Vec<PathConfig>) -> Result<Proxy, String> {
        let mut endpoints = Vec::new();
        for p in paths {
            let mut exporters = Vec::new();
            for cfg in p.exporters {
                exporters.push(Exporter::new(cfg)?);
            }
            endpoints.push(Arc::new(Endpoint {
                path: p.path,
                exporters,
                scrapes: AtomicU64::new(0),
            }));
        }
        Ok(Proxy { endpoints })
    }
}

impl Part for Proxy {
    fn routes(&self) -> Vec<Route> {
        self.endpoints
            .iter()
            .map(|e| {
                let names: Vec<&str> = e.exporters.iter().map(|x| x.cfg.name.as_str()).collect();
                let title = format!("Merged: {}", names.join(", "));
                let ep = e.clone();
                Route::new(&e.path, &title, move |req: &Request| ep.serve(req))
            })
            .collect()
    }

    fn write_metrics(&self, enc: &mut Encoder) {
        write_self_metrics(enc, &self.endpoints);
    }
}

enum Fetcher {
    Http(http::Url, config::Http),
    File(String),
    Exec(Arc<exec::Shared>),
    Cached(Arc<exec::Cached>),
}

/// Totals kept for promlet's own `/metrics`.
#[derive(Default)]
struct Totals {
    up: bool,
    duration: f64,
    failures: u64,
    counts: merge::Counts,
}

struct Exporter {
    cfg: ExporterConfig,
    fetcher: Fetcher,
    totals: Mutex<Totals>,
    warned_relabel: AtomicBool,
}

impl Exporter {
    fn new(cfg: ExporterConfig) -> Result<Arc<Exporter>, String> {
        let fetcher = match &cfg.source {
            Source::Http(h) => Fetcher::Http(http::Url::parse(&h.url)?, (**h).clone()),
            Source::File(p) => Fetcher::File(p.clone()),
            Source::Exec(argv) => Fetcher::Exec(Arc::new(exec::Shared::new(
                &cfg.name,
                argv.clone(),
                cfg.timeout,
            ))),
            Source::ExecCached(argv, interval) => Fetcher::Cached(exec::Cached::start(
                &cfg.name,
                argv.clone(),
                *interval,
                cfg.timeout,
                |out| decode(out.to_vec(), sniff(out)).map(|_| ()),
            )?),
        };
        Ok(Arc::new(Exporter {
            cfg,
            fetcher,
            totals: Mutex::new(Totals::default()),
            warned_relabel: AtomicBool::new(false),
        }))
    }

    /// Fetches and decodes this exporter's exposition; with the age of cached data.
    fn fetch(&self, until: Instant) -> Result<(Decoded, Option<Duration>), String> {
        match &self.fetcher {
            Fetcher::Http(url, h) => {
                let r = h.with_headers(|headers| http::get(url, h.tls(), headers, until))?;
                if r.content_type.contains("protobuf") {
                    return Err("upstream answered protobuf, which promlet does not read".into());
                }
                let format = Format::from_content_type(&r.content_type);
                Ok((decode(r.body, format)?, None))
            }
            Fetcher::File(p) => {
                let data = read_limited(Path::new(p))?;
                let format = sniff(&data);
                Ok((decode(data, format)?, None))
            }
            Fetcher::Exec(s) => {
                let out = s.get(until)?;
                Ok((decode(out.to_vec(), sniff(&out))?, None))
            }
            Fetcher::Cached(c) => {
                let (out, age) = c.get()?;
                Ok((decode(out.to_vec(), sniff(&out))?, Some(age)))
            }
        }
    }
}

/// Files and command output carry no Content-Type: OpenMetrics ends with `# EOF`.
fn sniff(data: &[u8]) -> Format {
    let t = data.trim_ascii_end();
    if t.ends_with(b"\n# EOF") || t == b"# EOF" {
        Format::OpenMetrics
    } else {
        Format::Text004
    }
}

/// Decodes a body. 0.0.4 (nearly every exporter) keeps the body and points into it;
/// OpenMetrics is converted by the owned parser first.
fn decode(data: Vec<u8>, format: Format) -> Result<Decoded, String> {
    let text = String::from_utf8(data).map_err(|e| format!("not UTF-8: {}", e.utf8_error()))?;
    match format {
        Format::Text004 => expfmt::decode_text(text),
        Format::OpenMetrics => {
            expfmt::parse(&text, format).map(|fams| Decoded::from_families(&fams))
        }
    }
    .map_err(|e| format!("parse: {e}"))
}

fn read_limited(p: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(p).map_err(|e| format!("open {}: {e}", p.display()))?;
    let mut data = Vec::new();
    f.take(http::MAX_BODY as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("read {}: {e}", p.display()))?;
    if data.len() > http::MAX_BODY {
        return Err(format!(
            "{} is larger than {} bytes",
            p.display(),
            http::MAX_BODY
        ));
    }
    Ok(data)
}

/// One served path.
struct Endpoint {
    path: String,
    exporters: Vec<Arc<Exporter>>,
    scrapes: AtomicU64,
}

/// One exporter's outcome in one scrape.
struct Outcome {
    result: Result<(Decoded, Option<Duration>), String>,
    duration: Duration,
}

impl Endpoint {
    fn serve(&self, req: &Request) -> Response {
        let start = Instant::now();
        let longest = self
            .exporters
            .iter()
            .map(|e| e.cfg.timeout)
            .max()
            .unwrap_or(config::DEFAULT_TIMEOUT);
        // The scraper's timeout may shorten the exporters' own, never lengthen them.
        let deadline = match req.scrape_timeout() {
            Some(t) => (start + t - margin(t)).min(start + longest),
            None => start + longest,
        };
        let body = self.scrape(start, deadline);
        Response::new(200, expfmt::CONTENT_TYPE, body)
    }

    /// Fetches every exporter in parallel and merges what came back by `deadline`.
    fn scrape(&self, start: Instant, deadline: Instant) -> Vec<u8> {
        self.scrapes.fetch_add(1, Ordering::Relaxed);
        let outcomes = self.fetch_all(start, deadline);
        for (e, o) in self.exporters.iter().zip(&outcomes) {
            // Logged when it goes down and when it comes back, not once per scrape.
            let key = format!("{} of path {}", e.cfg.name, self.path);
            match &o.result {
                Err(err) => UPSTREAMS.failed(&key, err),
                Ok(_) => UPSTREAMS.ok(&key),
            };
        }
        let inputs: Vec<merge::Source<'_>> = self
            .exporters
            .iter()
            .zip(&outcomes)
            .map(|(e, o)| merge::Source {
                name: &e.cfg.name,
                labels: &e.cfg.labels,
                no_rewrite: e.cfg.no_rewrite,
                decoded: o.result.as_ref().ok().map(|(d, _)| d),
            })
            .collect();
        let mut enc = Encoder::new();
        let counts = merge::merge_decoded(&mut enc, &inputs, RESERVED);
        drop(inputs);
        self.write_health(&mut enc, &outcomes);
        self.account(&outcomes, counts);
        // Decoded bodies are a few large buffers each: freeing them here is cheap.
        drop(outcomes);
        enc.into_bytes()
    }

    /// Every exporter's outcome, in config order: each fetched on a thread of its own (the
    /// last one maybe on this one), waited for until its own deadline; one not back by then
    /// is a timeout.
    fn fetch_all(&self, start: Instant, deadline: Instant) -> Vec<Outcome> {
        let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
        // Each exporter's own deadline: its timeout, shortened by the scrape's.
        let until_of = move |e: &Exporter| deadline.min(start + e.cfg.timeout);
        let untils: Vec<Instant> = self.exporters.iter().map(|e| until_of(e)).collect();
        let fetch = move |i: usize, e: &Arc<Exporter>, tx: &mpsc::Sender<(usize, Outcome)>| {
            let until = until_of(e);
            let t = Instant::now();
            let result = e.fetch(until);
            let _ = tx.send((
                i,
                Outcome {
                    result,
                    duration: t.elapsed(),
                },
            ));
        };
        // The last exporter runs on this thread when its fetch surely stops at the deadline by
        // itself (an HTTP request with socket deadlines, cached exec output): a path with one
        // such exporter starts no thread. Files (a FIFO, a hung NFS mount) and commands always
        // get a thread, so the answer never waits past the deadline for them.
        let n = self.exporters.len();
        let inline = self.exporters.last().is_some_and(|e| {
            matches!(&e.fetcher, Fetcher::Cached(_))
                || matches!(&e.fetcher, Fetcher::Http(u, _) if u.host.parse::<std::net::IpAddr>().is_ok())
        });
        let threaded = if inline { n - 1 } else { n };
        for (i, e) in self.exporters.iter().enumerate().take(threaded) {
            let e = e.clone();
            let txc = tx.clone();
            let spawned = std::thread::Builder::new()
                .name("proxy-fetch".into())
                .stack_size(256 * 1024)
                .spawn(move || fetch(i, &e, &txc));
            if let Err(err) = spawned {
                let _ = tx.send((
                    i,
                    Outcome {
                        result: Err(format!("cannot start a thread: {err}")),
                        duration: Duration::ZERO,
                    },
                ));
            }
        }
        if inline {
            if let Some(last) = self.exporters.last() {
                fetch(n - 1, last, &tx);
            }
        }
        drop(tx);
        let mut outcomes: Vec<Option<Outcome>> = (0..self.exporters.len()).map(|_| None).collect();
        let mut pending = self.exporters.len();
        while pending > 0 {
            // Until the latest deadline of the exporters still out (a hung file exporter
            // with a short timeout is not waited for past it), and a little past it:
            // fetchers give up at it themselves, and their answer (with the real error) is
            // worth the wait.
            let last = outcomes
                .iter()
                .zip(&untils)
                .filter(|(o, _)| o.is_none())
                .map(|(_, u)| *u)
                .max()
                .unwrap_or(deadline);
            let left = (last + Duration::from_millis(50)).saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((i, o)) => {
                    outcomes[i] = Some(o);
                    pending -= 1;
                }
                Err(_) => break,
            }
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| Outcome {
                    result: Err("timeout (no answer by the scrape deadline)".into()),
                    duration: start.elapsed(),
                })
            })
            .collect()
    }

    /// Adds one scrape's outcomes and merge counts to each exporter's totals (and warns once
    /// about an upstream that sends its own `exporter_name`).
    fn account(&self, outcomes: &[Outcome], counts: Vec<merge::Counts>) {
        for ((e, o), c) in self.exporters.iter().zip(outcomes).zip(counts) {
            if c.relabelled > 0 && !e.warned_relabel.swap(true, Ordering::Relaxed) {
                crate::warn!(
                    "path {}: exporter {} sends its own exporter_name label; replaced by {:?}",
                    self.path,
                    e.cfg.name,
                    e.cfg.name
                );
            }
            let mut t = e.totals.lock().unwrap_or_else(|p| p.into_inner());
            t.up = o.result.is_ok();
            t.duration = o.duration.as_secs_f64();
            if o.result.is_err() {
                t.failures += 1;
            }
            let a = &mut t.counts;
            a.type_conflicts += c.type_conflicts;
            a.help_conflicts += c.help_conflicts;
            a.name_clashes += c.name_clashes;
            a.duplicates += c.duplicates;
            a.relabelled += c.relabelled;
            a.refused += c.refused;
            a.series = c.series;
        }
    }

    /// promlet_exporter_up / _scrape_duration_seconds / _data_age_seconds for this scrape.
    fn write_health(&self, enc: &mut Encoder, outcomes: &[Outcome]) {
        let mut f = enc.family(
            UP,
            "1 if the exporter's metrics were fetched and decoded in this scrape, else 0.",
            MetricType::Gauge,
        );
        for (e, o) in self.exporters.iter().zip(outcomes) {
            let v = if o.result.is_ok() { 1.0 } else { 0.0 };
            f.sample(&[("exporter_name", &e.cfg.name)], v);
        }
        let mut f = enc.family(
            DURATION,
            "Time spent fetching and decoding the exporter's metrics.",
            MetricType::Gauge,
        );
        for (e, o) in self.exporters.iter().zip(outcomes) {
            f.sample(&[("exporter_name", &e.cfg.name)], o.duration.as_secs_f64());
        }
        let ages: Vec<(&str, f64)> = self
            .exporters
            .iter()
            .zip(outcomes)
            .filter_map(|(e, o)| match &o.result {
                Ok((_, Some(age))) => Some((e.cfg.name.as_str(), age.as_secs_f64())),
                _ => None,
            })
            .collect();
        if !ages.is_empty() {
            let mut f = enc.family(
                AGE,
                "Age of the output served for an exec exporter with an interval (its last good run).",
                MetricType::Gauge,
            );
            for (n, a) in ages {
                f.sample(&[("exporter_name", n)], a);
            }
        }
    }
}

/// promlet's own metrics about the proxy, on `/metrics`.
fn write_self_metrics(enc: &mut Encoder, endpoints: &[Arc<Endpoint>]) {
    let rows: Vec<(&str, &str, Totals)> = endpoints
        .iter()
        .flat_map(|ep| {
            ep.exporters.iter().map(move |e| {
                let t = e.totals.lock().unwrap_or_else(|p| p.into_inner());
                let copy = Totals {
                    up: t.up,
                    duration: t.duration,
                    failures: t.failures,
                    counts: t.counts.clone(),
                };
                (ep.path.as_str(), e.cfg.name.as_str(), copy)
            })
        })
        .collect();
    let mut f = enc.family(
        "promlet_proxy_scrapes_total",
        "Scrapes of each merged path.",
        MetricType::Counter,
    );
    for ep in endpoints {
        f.sample(
            &[("path", &ep.path)],
            ep.scrapes.load(Ordering::Relaxed) as f64,
        );
    }
    type Get = fn(&Totals) -> f64;
    let per_exporter: &[(&str, &str, MetricType, Get)] = &[
        (
            UP,
            "1 if the exporter answered in the last scrape of its path.",
            MetricType::Gauge,
            |t| if t.up { 1.0 } else { 0.0 },
        ),
        (
            DURATION,
            "Time the exporter took in the last scrape of its path.",
            MetricType::Gauge,
            |t| t.duration,
        ),
        (
            "promlet_proxy_exporter_failures_total",
            "Scrapes in which the exporter failed and was left out.",
            MetricType::Counter,
            |t| t.failures as f64,
        ),
        (
            "promlet_proxy_duplicate_series_total",
            "Series dropped because the same series (name and labels) was already in the answer.",
            MetricType::Counter,
            |t| t.counts.duplicates as f64,
        ),
        (
            "promlet_proxy_exporter_name_overrides_total",
            "Upstream exporter_name labels replaced by the configured exporter name.",
            MetricType::Counter,
            |t| t.counts.relabelled as f64,
        ),
        (
            "promlet_proxy_refused_series_total",
            "Series named like Prometheus' own (up, scrape_*) refused from no_rewrite exporters.",
            MetricType::Counter,
            |t| t.counts.refused as f64,
        ),
        (
            "promlet_proxy_series",
            "Series the exporter contributed in the last scrape.",
            MetricType::Gauge,
            |t| t.counts.series as f64,
        ),
    ];
    for (name, help, typ, get) in per_exporter {
        let mut f = enc.family(name, help, *typ);
        for (path, ex, t) in &rows {
            f.sample(&[("exporter_name", ex), ("path", path)], get(t));
        }
    }
    let mut f = enc.family(
        "promlet_proxy_conflicts_total",
        "Families of the exporter dropped or changed by a conflict: kind=type (other TYPE than the first exporter's: family dropped), help (other HELP: first kept), name (name clashes with another family's samples: family dropped).",
        MetricType::Counter,
    );
    for (path, ex, t) in &rows {
        for (kind, v) in [
            ("help", t.counts.help_conflicts),
            ("name", t.counts.name_clashes),
            ("type", t.counts.type_conflicts),
        ] {
            f.sample(
                &[("exporter_name", ex), ("kind", kind), ("path", path)],
                v as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests;
