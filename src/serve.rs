//! `promlet` with no subcommand: parse flags, start the enabled collectors and parts, serve.

use std::cell::RefCell;
use std::sync::Arc;

use crate::expfmt::{self, Encoder};
use crate::flags::{Flags, Spec};
use crate::part::Part;
use crate::server::{self, Options, Request, Response, Route, Server, Stats};

fn common_specs() -> Vec<Spec> {
    vec![
        Spec::value("web.listen-address", Some(":9100"), "Address on which to expose metrics and web interface."),
        Spec::value("web.telemetry-path", Some("/metrics"), "Path under which to expose metrics."),
        Spec::switch("web.disable-exporter-metrics", false, "Exclude metrics about promlet itself (process_*, promlet_build_info)."),
        Spec::value("web.max-requests", Some("40"), "Maximum number of requests served in parallel."),
        Spec::value("web.config.file", None, "Path to a web configuration file (TLS, client certificates, basic auth), in the exporter-toolkit format."),
        Spec::value("path.procfs", Some("/proc"), "procfs mountpoint."),
        Spec::value("path.sysfs", Some("/sys"), "sysfs mountpoint."),
        Spec::value("path.rootfs", Some("/"), "rootfs mountpoint."),
        #[cfg(any(feature = "proxy", feature = "push"))]
        Spec::value("config.file", None, "Configuration file (YAML, or JSON): the merging proxy's paths, push mode's remote_write."),
    ]
}

/// Every flag `promlet` (serve) accepts, in `--help` order.
pub fn specs() -> Vec<Spec> {
    let mut specs = common_specs();
    #[cfg(feature = "node")]
    specs.extend(crate::collector::flag_specs());
    for p in crate::part::entries() {
        specs.extend((p.flags)());
    }
    specs
}

pub fn main(args: &[String]) -> i32 {
    let usage = "promlet [<flags>] | promlet <command> ...";
    let flags = match crate::flags::parse_command(
        "promlet",
        usage,
        specs(),
        args.iter().cloned(),
        &commands_help(),
    ) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if let Some(cmd) = flags.positional().first() {
        eprintln!("promlet: unknown command {cmd:?}{}", commands_help());
        return 2;
    }
    // Caught before anything starts a child; children of ours are ended at the stop.
    let stop = match crate::children::catch_stop() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("promlet: {e}");
            return 1;
        }
    };
    match start(&flags) {
        Ok((server, parts)) => {
            crate::info!("listening on {}", server.local_addr());
            let sig = stop.wait();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            for p in &parts {
                p.stop(deadline);
            }
            let n = crate::children::stop(std::time::Duration::from_secs(2));
            crate::info!("stopping on signal {sig}; killed {n} child process groups");
            0
        }
        Err(e) => {
            crate::children::stop(std::time::Duration::from_secs(2));
            crate::error!("{e}");
            eprintln!("promlet: {e}");
            1
        }
    }
}

fn commands_help() -> String {
    let mut s = String::from("\nCommands in this build:\n");
    if cfg!(feature = "hdhomerun") {
        s.push_str("  hdhomerun discover|get|set ...   talk to HDHomeRun devices\n");
    }
    if cfg!(feature = "packet-sd") {
        s.push_str("  packet-sd [<flags>]              write Packet / Equinix Metal devices to a file_sd file\n");
    }
    if cfg!(feature = "http-sd") {
        s.push_str("  check DIR                        run every HTTP SD generator under DIR\n");
    }
    s
}

/// Builds everything the flags ask for and starts the server; returns it and the parts.
pub fn start(flags: &Flags) -> Result<(Server, Vec<Arc<dyn Part>>), String> {
    raise_fd_limit();
    let telemetry = flags.value("web.telemetry-path").unwrap_or_default();
    if !telemetry.starts_with('/') {
        return Err(format!(
            "--web.telemetry-path must start with '/', not {telemetry:?}"
        ));
    }
    let max_workers: usize = flags
        .value("web.max-requests")
        .unwrap_or_default()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or("--web.max-requests must be a positive number")?;
    let mut opts = Options {
        max_workers,
        ..Options::default()
    };
    if let Some(path) = flags.value("web.config.file") {
        crate::webconfig::load(std::path::Path::new(&path), &mut opts)?;
    }

    #[cfg(feature = "node")]
    let node = {
        let paths = crate::collector::Paths {
            procfs: flags.value("path.procfs").unwrap_or_default().into(),
            sysfs: flags.value("path.sysfs").unwrap_or_default().into(),
            rootfs: flags.value("path.rootfs").unwrap_or_default().into(),
        };
        let node = crate::collector::Node::new(&paths, flags)?;
        crate::info!("enabled collectors: {}", node.names().join(", "));
        Some(node)
    };

    let mut parts: Vec<Arc<dyn Part>> = Vec::new();
    for e in crate::part::entries() {
        if let Some(p) = (e.init)(flags).map_err(|m| format!("{}: {m}", e.name))? {
            crate::info!("{} enabled", e.name);
            parts.push(p);
        }
    }

    let stats = Arc::new(Stats::default());
    let metrics = Metrics {
        #[cfg(feature = "node")]
        node,
        parts: parts.clone(),
        exporter_metrics: !flags.switch("web.disable-exporter-metrics"),
        stats: stats.clone(),
    };
    let mut routes = vec![Route::new(&telemetry, "Metrics", move |req: &Request| {
        metrics.serve(req)
    })];
    for p in &parts {
        routes.extend(p.routes());
    }
    for p in &parts {
        p.start(&routes)?;
    }
    let listen = flags.value("web.listen-address").unwrap_or_default();
    let listener = server::bind(&listen)?;
    let server =
        Server::start(listener, routes, opts, stats).map_err(|e| format!("start server: {e}"))?;
    Ok((server, parts))
}

/// The `/metrics` handler.
struct Metrics {
    #[cfg(feature = "node")]
    node: Option<crate::collector::Node>,
    parts: Vec<Arc<dyn Part>>,
    exporter_metrics: bool,
    stats: Arc<Stats>,
}

thread_local! {
    // One encoder per worker thread: its buffer is reused from scrape to scrape.
    static ENCODER: RefCell<Encoder> = RefCell::new(Encoder::new());
}

impl Metrics {
    fn serve(&self, req: &Request) -> Response {
        // node_exporter's collector filter: ?collect[]=cpu&exclude[]=meminfo.
        let q = req.query_pairs();
        let include: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == "collect[]")
            .map(|(_, v)| v.as_str())
            .collect();
        let exclude: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == "exclude[]")
            .map(|(_, v)| v.as_str())
            .collect();
        let wanted = |name: &str| {
            (include.is_empty() || include.contains(&name)) && !exclude.contains(&name)
        };
        ENCODER.with(|cell| {
            let mut enc = cell.borrow_mut();
            enc.clear();
            self.write(&mut enc, &wanted);
            Response::new(200, expfmt::CONTENT_TYPE, enc.as_bytes().to_vec())
        })
    }

    fn write(&self, enc: &mut Encoder, wanted: &dyn Fn(&str) -> bool) {
        #[cfg(feature = "node")]
        if let Some(node) = &self.node {
            node.write(enc, wanted);
        }
        #[cfg(not(feature = "node"))]
        let _ = wanted;
        for p in &self.parts {
            p.write_metrics(enc);
        }
        if self.exporter_metrics {
            crate::process::write_build_info(enc);
            crate::process::write_process_metrics(enc);
            let s = &self.stats;
            use std::sync::atomic::Ordering::Relaxed;
            enc.single(
                "promlet_http_requests_total",
                "HTTP requests promlet answered.",
                expfmt::MetricType::Counter,
                s.requests.load(Relaxed) as f64,
            );
            enc.single(
                "promlet_http_rejected_connections_total",
                "Connections refused with 503 because every worker was busy.",
                expfmt::MetricType::Counter,
                s.rejected.load(Relaxed) as f64,
            );
            enc.single(
                "promlet_http_workers",
                "Worker threads started.",
                expfmt::MetricType::Gauge,
                s.workers.load(Relaxed) as f64,
            );
            // Last, so it counts every clash in this scrape (a textfile family named like a
            // collector's, say): the encoder keeps the first and drops the rest.
            let dropped = enc.duplicates() as f64;
            enc.single(
                "promlet_scrape_duplicate_families",
                "Metric families dropped from this scrape because a family of the same name was already written.",
                expfmt::MetricType::Gauge,
                dropped,
            );
        }
    }
}

/// Raises the soft open-files limit to the hard one, as Go programs (node_exporter) do at start:
/// idle clients each hold a descriptor, and the default soft limit of 1024 would let a
/// thousand idle connections lock out the scraper. The server itself caps idle connections.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
