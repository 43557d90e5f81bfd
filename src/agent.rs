//! `promlet` with no subcommand: parse flags, start the enabled collectors and parts, serve.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, RwLock};

use crate::expfmt::{self, Encoder};
use crate::flags::{Flags, Spec};
use crate::httpd::{self, Handler, Options, Request, Response, Route, Server, Stats};
use crate::part::Part;

fn common_specs() -> Vec<Spec> {
    vec![
        listen_spec(),
        Spec::value("web.telemetry-path", Some("/metrics"), "Path under which to expose metrics."),
        Spec::switch("web.disable-exporter-metrics", false, "Exclude metrics about promlet itself (process_*, promlet_build_info)."),
        Spec::value("web.max-requests", Some("40"), "Maximum number of requests served in parallel."),
        Spec::value("web.config.file", None, "Path to a web configuration file (TLS, client certificates, basic auth), in the exporter-toolkit format."),
        Spec::value("path.procfs", Some("/proc"), "procfs mountpoint."),
        Spec::value("path.sysfs", Some("/sys"), "sysfs mountpoint."),
        Spec::value("path.rootfs", Some("/"), "rootfs mountpoint."),
        Spec::value("path.udev.data", Some("/run/udev/data"), "udev data path."),
        Spec::value("log.level", Some("info"), "Only log messages with the given severity or above. One of: [debug, info, warn, error]"),
        Spec::value("log.format", Some("logfmt"), "Output format of log messages. One of: [logfmt, json]"),
        #[cfg(any(feature = "proxy", feature = "push"))]
        Spec::value("config.file", None, "Configuration file (YAML, or JSON): the merging proxy's paths, push mode's remote_write."),
    ]
}

/// `--web.listen-address`, repeatable as in node_exporter: every address given is bound.
fn listen_spec() -> Spec {
    let mut s = Spec::repeated(
        "web.listen-address",
        "Addresses on which to expose metrics and web interface. Repeatable for multiple addresses.",
    );
    s.default = Some(":9100".into());
    s
}

/// Every flag `promlet` (serve) accepts, in `--help` order.
pub fn specs() -> Vec<Spec> {
    let mut specs = common_specs();
    #[cfg(feature = "node")]
    specs.extend(crate::collector::flag_specs());
    for p in crate::part::entries() {
        specs.extend((p.flags)());
    }
    let rest = crate::flags::node_exporter_rest(&specs);
    specs.extend(rest);
    specs
}

/// One warning for every node_exporter flag given that this build ignores, one per deprecated
/// alias used (node_exporter warns for those too).
fn warn_foreign_flags(flags: &Flags) {
    if !flags.ignored().is_empty() {
        crate::warn!(
            "ignoring node_exporter flags this build does not implement: {}",
            flags.ignored().join(" ")
        );
    }
    for (alias, target) in flags.deprecated() {
        crate::warn!("--{alias} is DEPRECATED and will be removed in 2.0.0, use --{target}");
    }
}

pub fn main(args: &[String]) -> i32 {
    // Before any thread exists, so that every thread inherits it.
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
    if let Err(e) = crate::log::init(
        &flags.value("log.level").unwrap_or_default(),
        &flags.value("log.format").unwrap_or_default(),
    ) {
        eprintln!("promlet: {e}");
        return 2;
    }
    crate::info!(
        "starting promlet, version {} (revision: {}), features: {}",
        env!("CARGO_PKG_VERSION"),
        env!("PROMLET_REVISION"),
        crate::features()
    );
    warn_foreign_flags(&flags);
    // Caught before anything starts a child: SIGTERM and SIGINT stop promlet (and end the
    // children it started), SIGHUP reloads.
    let signals = match crate::children::catch_signals() {
        Ok(s) => s,
        Err(e) => {
            crate::error!("{e}");
            return 1;
        }
    };
    match start(&flags) {
        Ok(serving) => {
            // One line per bound address, port 0 resolved: tests and scripts read it from here.
            for a in serving.server.local_addrs() {
                crate::info!("listening on {a}");
            }
            serve_until_stopped(&serving, &flags, &signals)
        }
        Err(e) => {
            crate::children::stop(std::time::Duration::from_secs(2));
            // One line, in the log format asked for (it used to be printed twice).
            crate::error!("{e}");
            1
        }
    }
}

fn commands_help() -> String {
    let mut s = String::from(
        "\nnode_exporter's other flags (collectors and settings this build lacks) are accepted and\nignored, with one warning at start.\n\nCommands in this build:\n",
    );
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

/// A part that is running, with the table row it came from.
#[derive(Clone)]
struct Running {
    name: &'static str,
    reloads: bool,
    part: Arc<dyn Part>,
}

/// The route table every request goes through; SIGHUP swaps it whole.
struct Router {
    routes: RwLock<Arc<Vec<Route>>>,
}

impl Handler for Router {
    fn handle(&self, req: &Request) -> Response {
        let routes = self
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        httpd::answer(&routes, req)
    }
}

/// What serves: the server and what a SIGHUP replaces.
pub struct Serving {
    pub server: Server,
    router: Arc<Router>,
    web: Option<Arc<crate::webconfig::Live>>,
    parts: Mutex<Vec<Running>>,
    base: Base,
}

/// The `/metrics` pieces that do not change on reload.
#[derive(Clone)]
struct Base {
    telemetry: String,
    #[cfg(feature = "node")]
    node: Option<Arc<crate::collector::Node>>,
    exporter_metrics: bool,
    stats: Arc<Stats>,
}

/// Builds everything the flags ask for and starts the server.
pub fn start(flags: &Flags) -> Result<Serving, String> {
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
        max_idle: httpd::idle_cap(max_workers),
        ..Options::default()
    };
    let web = match flags.value("web.config.file") {
        Some(path) => {
            let live = crate::webconfig::Live::new(std::path::Path::new(&path))?;
            opts.tls = Some(live.clone());
            opts.auth = Some(live.clone());
            Some(live)
        }
        None => None,
    };

    #[cfg(feature = "node")]
    let node = {
        let paths = crate::collector::Paths {
            procfs: flags.value("path.procfs").unwrap_or_default().into(),
            sysfs: flags.value("path.sysfs").unwrap_or_default().into(),
            rootfs: flags.value("path.rootfs").unwrap_or_default().into(),
        };
        let node = crate::collector::Node::new(&paths, flags)?;
        crate::info!("enabled collectors: {}", node.names().join(", "));
        Some(Arc::new(node))
    };

    let mut parts: Vec<Running> = Vec::new();
    for e in crate::part::entries() {
        if let Some(p) = (e.init)(flags).map_err(|m| format!("{}: {m}", e.name))? {
            parts.push(Running {
                name: e.name,
                reloads: e.reloads,
                part: p,
            });
        }
    }
    let mut names: Vec<&str> = parts.iter().map(|r| r.name).collect();
    if cfg!(feature = "node") {
        names.insert(0, "node");
    }
    crate::info!("enabled parts: {}", names.join(", "));

    let base = Base {
        telemetry,
        #[cfg(feature = "node")]
        node,
        exporter_metrics: !flags.switch("web.disable-exporter-metrics"),
        stats: Arc::new(Stats::default()),
    };
    let routes = build_routes(&base, &parts)?;
    for r in &parts {
        r.part
            .start(&routes)
            .map_err(|m| format!("{}: {m}", r.name))?;
    }
    let router = Arc::new(Router {
        routes: RwLock::new(Arc::new(routes)),
    });
    let mut listeners = Vec::new();
    for listen in flags.values("web.listen-address") {
        listeners.push(httpd::bind(&listen)?);
    }
    let front = router.clone();
    let server = Server::start_all(
        listeners,
        vec![Route::prefix("/", "", move |req: &Request| {
            front.handle(req)
        })],
        opts,
        base.stats.clone(),
    )
    .map_err(|e| format!("start server: {e}"))?;
    Ok(Serving {
        server,
        router,
        web,
        parts: Mutex::new(parts),
        base,
    })
}

/// The route table: `/metrics` and every part's routes. Two parts (or a part and the
/// telemetry path) wanting the same path, or one path inside another's prefix route, stop
/// promlet with a message instead of one silently hiding the other.
fn build_routes(base: &Base, parts: &[Running]) -> Result<Vec<Route>, String> {
    let metrics = Metrics {
        #[cfg(feature = "node")]
        node: base.node.clone(),
        parts: parts.iter().map(|r| r.part.clone()).collect(),
        exporter_metrics: base.exporter_metrics,
        stats: base.stats.clone(),
    };
    let mut owned: Vec<(&str, Route)> = vec![(
        "--web.telemetry-path",
        Route::new(&base.telemetry, "Metrics", move |req: &Request| {
            metrics.serve(req)
        }),
    )];
    for r in parts {
        owned.extend(r.part.routes().into_iter().map(|route| (r.name, route)));
    }
    for (i, (a, ra)) in owned.iter().enumerate() {
        for (b, rb) in &owned[i + 1..] {
            if a == b {
                continue;
            }
            let clash = ra.path == rb.path
                || (ra.prefix && ra.matches(&rb.path))
                || (rb.prefix && rb.matches(&ra.path));
            if clash {
                return Err(format!(
                    "route clash: {b} serves {:?}, which {a} already serves at {:?}",
                    rb.path, ra.path
                ));
            }
        }
    }
    Ok(owned.into_iter().map(|(_, r)| r).collect())
}

impl Serving {
    /// SIGHUP: starts the reloadable parts again from their files and re-reads the web
    /// configuration, then swaps all of it in at once. Any error leaves everything as it was.
    pub fn reload(&self, flags: &Flags) -> Result<(), String> {
        let old = self.parts.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut parts = Vec::with_capacity(old.len());
        let mut commits = Vec::new();
        for e in crate::part::entries() {
            match old.iter().find(|r| r.name == e.name) {
                Some(r) if !r.reloads => {
                    let c = r
                        .part
                        .reload(flags)
                        .map_err(|m| format!("{}: {m}", e.name))?;
                    commits.extend(c);
                    parts.push(r.clone());
                }
                _ if !e.reloads => {}
                _ => {
                    if let Some(p) = (e.init)(flags).map_err(|m| format!("{}: {m}", e.name))? {
                        parts.push(Running {
                            name: e.name,
                            reloads: true,
                            part: p,
                        });
                    }
                }
            }
        }
        let web = match &self.web {
            Some(w) => Some((w, w.read()?)),
            None => None,
        };
        let routes = build_routes(&self.base, &parts)?;
        // Everything is built: install it together.
        *self
            .router
            .routes
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(routes);
        *self.parts.lock().unwrap_or_else(|e| e.into_inner()) = parts;
        if let Some((w, loaded)) = web {
            w.install(loaded);
        }
        for c in commits {
            c();
        }
        Ok(())
    }
}

/// Serves until SIGTERM or SIGINT (then ends the children and returns 0), reloading on
/// each SIGHUP.
fn serve_until_stopped(
    serving: &Serving,
    flags: &Flags,
    signals: &crate::children::Signals,
) -> i32 {
    loop {
        let sig = signals.wait();
        if sig == libc::SIGHUP {
            crate::info!("SIGHUP: reloading the configuration");
            match serving.reload(flags) {
                Ok(()) => crate::info!("configuration reloaded"),
                Err(e) => {
                    crate::error!("reload failed, still serving the previous configuration: {e}")
                }
            }
            continue;
        }
        // Parts finish first (push mode delivers its last batches and staleness markers).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let parts = serving
            .parts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for r in &parts {
            r.part.stop(deadline);
        }
        let n = crate::children::stop(std::time::Duration::from_secs(2));
        crate::info!("stopping on signal {sig}; killed {n} child process groups");
        return 0;
    }
}

/// The `/metrics` handler.
struct Metrics {
    #[cfg(feature = "node")]
    node: Option<Arc<crate::collector::Node>>,
    parts: Vec<Arc<dyn Part>>,
    exporter_metrics: bool,
    stats: Arc<Stats>,
}

thread_local! {
    // One encoder per worker thread: its family-name sets are reused from scrape to scrape
    // (the text goes into a spare buffer, see `serve`).
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
        // As node_exporter: a collector that is not running cannot be asked for.
        if let Some(bad) = include.iter().find(|n| !self.collector_names().contains(n)) {
            #[cfg(feature = "node")]
            let ours = crate::collector::entries().iter().any(|e| e.name == *bad);
            #[cfg(not(feature = "node"))]
            let ours = false;
            let why = if ours || crate::flags::is_node_exporter_collector(bad) {
                "disabled collector"
            } else {
                "missing collector"
            };
            let msg = format!(
                "Couldn't create filtered metrics handler: couldn't create collector: {why}: {bad}"
            );
            crate::warn!("{msg}");
            return Response::text(400, msg);
        }
        let wanted = |name: &str| {
            (include.is_empty() || include.contains(&name)) && !exclude.contains(&name)
        };
        // The text is written into a spare buffer that goes out as the body, so a thread
        // holds one buffer of it, not the encoder's and a copy.
        ENCODER.with(|cell| {
            let mut enc = cell.borrow_mut();
            enc.start_in(crate::spare::take());
            self.write(&mut enc, &wanted);
            Response::spare(200, expfmt::CONTENT_TYPE, enc.take_bytes())
        })
    }

    /// The collectors this `/metrics` runs.
    fn collector_names(&self) -> Vec<&'static str> {
        #[cfg(feature = "node")]
        if let Some(node) = &self.node {
            return node.names();
        }
        Vec::new()
    }

    fn write(&self, enc: &mut Encoder, wanted: &dyn Fn(&str) -> bool) {
        #[cfg(feature = "node")]
        if let Some(node) = &self.node {
            node.write(enc, wanted);
        }
        #[cfg(not(feature = "node"))]
        let _ = wanted;
        if self.exporter_metrics {
            // The parts' own metrics are promlet's too (promlet_proxy_*, promlet_hdhomerun_*,
            // promlet_http_sd_*, prometheus_packet_sd_*): the flag drops them with the rest.
            for p in &self.parts {
                p.write_metrics(enc);
            }
            crate::self_metrics::write_build_info(enc);
            crate::self_metrics::write_process_metrics(enc);
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
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    // None is unlimited: below the hard limit means the soft one is finite and smaller.
    let below = match (lim.current, lim.maximum) {
        (Some(cur), Some(max)) => cur < max,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if below {
        lim.current = lim.maximum;
        let _ = setrlimit(Resource::Nofile, lim);
    }
}
