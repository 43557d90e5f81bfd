//! HTTP SD: serves a directory tree of target files and generator programs as Prometheus
//! `http_sd_configs` endpoints, compatible with prometheus-http-sd trees.
//! Contract: <https://prometheus.io/docs/prometheus/latest/http_sd/>; the peer's behaviour and
//! the bugs fixed here: `docs/http-sd.md`.
//!
//! `GET <prefix>/targets[/<sub/path>]` walks that part of the tree ([`tree`]), gets each
//! generator's groups from the cache or by running it ([`cache`], [`run`]), checks them
//! ([`groups`]) and answers the concatenation in path order. Any failing generator fails the
//! whole answer (500 naming the file): Prometheus then keeps its previous targets, which is
//! better than silently dropping the targets of one file.

mod cache;
mod check;
pub(crate) mod groups;
mod run;
pub(crate) mod tree;
mod watch;

use crate::atomic64::AtomicU64;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::expfmt::{Encoder, MetricType};
use crate::flags::{parse_duration, Flags, Spec};
use crate::httpd::{html_escape, percent_decode, Request, Response, Route};
use crate::part::{Entry, Part};
use crate::sd::TargetGroup;

use cache::{Cache, Done, How, Key};
use groups::Fragment;
use tree::{Found, Generator, Kind};

pub use check::main as check_main;

pub const PART: Entry = Entry {
    name: "http-sd",
    flags,
    init,
    reloads: true,
};

/// Query parameters accepted per request at most.
const MAX_PARAMS: usize = 32;
/// Generators run in parallel for one request at most.
const PARALLEL_RUNS: usize = 8;
/// What a 503 (too many generator runs at once) asks the client to wait, in seconds.
const RETRY_AFTER: &str = "5";

fn flags() -> Vec<Spec> {
    vec![
        Spec::value("http-sd.directory", None, "Serve this directory of target files and generators as http_sd endpoints under /targets (HTTP SD is off without it)."),
        Spec::value("http-sd.url-prefix", Some(""), "Serve the HTTP SD routes under this path prefix (e.g. /sd behind a reverse proxy)."),
        Spec::value("http-sd.cache-ttl", Some("60s"), "How long a generator program's result is reused (per parameter set). Static files are re-read when they change."),
        Spec::value("http-sd.error-cache-ttl", Some("0s"), "How long a generator's failure is reused before it is run again."),
        Spec::value("http-sd.timeout", Some("30s"), "Time a generator program may run before it and its children are killed."),
        Spec::value("http-sd.python", Some("python3"), "Python interpreter for *.py generators."),
        Spec::value("http-sd.max-concurrent-runs", Some("4"), "Generator programs running at once at most, over all requests; a request that needs one more is answered 503 with Retry-After (Prometheus keeps its last targets)."),
    ]
}

fn duration_flag(flags: &Flags, name: &str) -> Result<Duration, String> {
    let v = flags.value(name).unwrap_or_default();
    parse_duration(&v).ok_or_else(|| format!("--{name}: bad duration {v:?}"))
}

fn init(flags: &Flags) -> Result<Option<Arc<dyn Part>>, String> {
    let Some(dir) = flags.value("http-sd.directory").filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let root =
        std::fs::canonicalize(&dir).map_err(|e| format!("--http-sd.directory {dir}: {e}"))?;
    if !root.is_dir() {
        return Err(format!("--http-sd.directory {dir}: not a directory"));
    }
    let prefix = flags.value("http-sd.url-prefix").unwrap_or_default();
    let prefix = prefix.trim_end_matches('/').to_string();
    if !prefix.is_empty() && (!prefix.starts_with('/') || prefix.contains(['?', '#', ' '])) {
        return Err(format!(
            "--http-sd.url-prefix must be a path starting with '/', not {prefix:?}"
        ));
    }
    let timeout = duration_flag(flags, "http-sd.timeout")?;
    if timeout.is_zero() {
        return Err("--http-sd.timeout must be positive".into());
    }
    let max_runs = flags
        .value("http-sd.max-concurrent-runs")
        .unwrap_or_default();
    let max_runs: usize = max_runs.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        format!("--http-sd.max-concurrent-runs must be a positive number, not {max_runs:?}")
    })?;
    let sd = Sd {
        runs: Runs::new(max_runs),
        root,
        prefix,
        cache: Cache::new(
            duration_flag(flags, "http-sd.cache-ttl")?,
            duration_flag(flags, "http-sd.error-cache-ttl")?,
        ),
        listings: tree::Listings::watched(),
        walks: Mutex::default(),
        timeout,
        python: flags
            .value("http-sd.python")
            .unwrap_or_else(|| "python3".into()),
        stats: Mutex::new(BTreeMap::new()),
        answers: Default::default(),
    };
    crate::info!(
        "http-sd: serving {} at {}/targets",
        sd.root.display(),
        sd.prefix
    );
    Ok(Some(Arc::new(HttpSd(Arc::new(sd)))))
}

/// What can go wrong with one generator. Every message is shown with the generator's path.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    Read(String),
    Parse(String),
    Invalid(String),
    /// Built without the `yaml` feature.
    #[cfg_attr(feature = "yaml", allow(dead_code))]
    NoYaml,
    Symlink(&'static str),
    Spawn(String),
    /// Exit status and the tail of stderr.
    Exit(String, String),
    Timeout(Duration),
    TooLarge(usize),
    /// `--http-sd.max-concurrent-runs` programs were running already; never cached.
    Busy(usize),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Read(e) => write!(f, "read: {e}"),
            Error::Parse(e) => write!(f, "not a list of target groups: {e}"),
            Error::Invalid(e) => write!(f, "invalid target group: {e}"),
            Error::NoYaml => {
                f.write_str("YAML target files need promlet built with the yaml feature")
            }
            Error::Symlink(e) => f.write_str(e),
            Error::Spawn(e) => write!(f, "cannot run {e}"),
            // The last line of stderr is where a traceback or a shell says what went wrong.
            Error::Exit(st, tail) => match tail.lines().rev().find(|l| !l.trim().is_empty()) {
                Some(last) => write!(f, "failed with {st}: {}", last.trim()),
                None => write!(f, "failed with {st}"),
            },
            Error::Timeout(t) => write!(f, "timed out after {t:?}; killed"),
            Error::TooLarge(n) => write!(f, "output larger than {n} bytes"),
            Error::Busy(n) => write!(f, "{n} generator runs in progress already; try again"),
        }
    }
}

/// Reads a static target file, capped like program output.
fn read_capped(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| Error::Read(e.to_string()))?;
    let mut buf = Vec::new();
    f.take(run::MAX_OUTPUT as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::Read(e.to_string()))?;
    if buf.len() > run::MAX_OUTPUT {
        return Err(Error::TooLarge(run::MAX_OUTPUT));
    }
    Ok(buf)
}

/// One generator's groups: the file read, or the program run with `params`.
pub fn produce(
    g: &Generator,
    params: &[(String, String)],
    spawn: &run::Spawn,
) -> Result<Vec<TargetGroup>, Error> {
    match g.kind {
        Kind::Json => groups::parse_json(&read_capped(&g.path)?),
        Kind::Yaml => groups::parse_yaml(&read_capped(&g.path)?),
        Kind::Python => groups::parse_json(&spawn.python(&g.path, params)?),
        Kind::Exec => groups::parse_json(&spawn.exec(&g.path, params)?),
    }
}

/// The first failing generator of a request, by its path in the tree.
struct Failed(String, Error);

/// A per-generator counter: name, help, value.
type Counter = (&'static str, &'static str, fn(&GenStats) -> f64);

/// Counters for one generator (labelled by its path in the tree, never by request input).
#[derive(Default)]
struct GenStats {
    runs: u64,
    failures: u64,
    hits: u64,
    targets: usize,
    buckets: [u64; BUCKETS.len()],
    duration_sum: f64,
}

const BUCKETS: [(f64, &str); 9] = [
    (0.001, "0.001"),
    (0.01, "0.01"),
    (0.1, "0.1"),
    (0.5, "0.5"),
    (1.0, "1"),
    (5.0, "5"),
    (10.0, "10"),
    (30.0, "30"),
    (60.0, "60"),
];

/// Walks by root-relative path, with the watch generation each was made at.
type Walks = HashMap<String, (u64, Arc<Vec<Found>>)>;

/// Response codes counted in `promlet_http_sd_requests_total`.
const CODES: [u16; 5] = [200, 400, 404, 500, 503];

/// The global cap on generator programs running at once: 16 generators times 40 concurrent
/// requests used to start 320 children at once.
struct Runs {
    max: usize,
    running: std::sync::atomic::AtomicUsize,
}

/// One running program's share of [`Runs`], given back on drop.
struct RunPermit<'a>(&'a Runs);

impl Runs {
    fn new(max: usize) -> Runs {
        Runs {
            max,
            running: Default::default(),
        }
    }

    /// A permit, unless `max` programs are running already.
    fn try_start(&self) -> Option<RunPermit<'_>> {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| RunPermit(self))
    }
}

impl Drop for RunPermit<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct Sd {
    runs: Runs,
    /// Canonical.
    root: PathBuf,
    /// `""` or `/something` without a trailing slash.
    prefix: String,
    cache: Cache,
    listings: tree::Listings,
    /// Walks by root-relative path, with the watch generation they were made at.
    walks: Mutex<Walks>,
    timeout: Duration,
    python: String,
    stats: Mutex<BTreeMap<String, GenStats>>,
    answers: [AtomicU64; CODES.len()],
}

/// A JSON error body.
fn json_error(status: u16, msg: &str, generator: Option<&str>) -> Response {
    let mut o = serde_json::Map::new();
    o.insert("error".into(), msg.into());
    if let Some(g) = generator {
        o.insert("generator".into(), g.into());
    }
    Response::json(status, serde_json::Value::Object(o).to_string())
}

impl Sd {
    fn targets_path(&self) -> String {
        format!("{}/targets", self.prefix)
    }

    fn spawn(&self) -> run::Spawn<'_> {
        run::Spawn {
            python: &self.python,
            timeout: self.timeout,
            test: false,
            root: &self.root,
        }
    }

    /// `GET <prefix>/targets...`.
    fn serve_targets(&self, req: &Request) -> Response {
        let resp = self.answer_targets(req);
        if let Some(i) = CODES.iter().position(|c| *c == resp.status) {
            self.answers[i].fetch_add(1, Ordering::Relaxed);
        }
        resp
    }

    fn answer_targets(&self, req: &Request) -> Response {
        let raw_rest = req.path.get(self.targets_path().len()..).unwrap_or("");
        let Some(rest) = percent_decode(raw_rest, false).filter(|s| !s.contains('\0')) else {
            return json_error(400, "bad path encoding", None);
        };
        let (params, debug) = match query_params(req) {
            Ok(p) => p,
            Err(m) => return json_error(400, &m, None),
        };
        let (rel, found) = match self.walk(&rest) {
            Ok(r) => r,
            Err(tree::PathError::Traversal) => {
                return json_error(400, "'.' and '..' are not allowed in target paths", None)
            }
            Err(tree::PathError::NotFound) => return json_error(404, "no such target path", None),
        };
        let mut gens = Vec::with_capacity(found.len());
        for f in found.iter() {
            match f {
                Found::Generator(g) => gens.push(g.clone()),
                Found::Broken(name, e) => {
                    return json_error(500, &format!("{name}: {e}"), Some(name))
                }
                // A single file requested by name must be a generator.
                Found::Skipped(name) if **name == *rel && !rel.is_empty() => {
                    return json_error(404, "not a target directory or generator", None)
                }
                Found::Skipped(_) | Found::Dir(_) => {}
            }
        }
        let done = match self.results(&gens, &params) {
            Ok(d) => d,
            Err(Failed(_, e @ Error::Busy(_))) => {
                let mut r = json_error(503, &e.to_string(), None);
                r.headers.push(("Retry-After".into(), RETRY_AFTER.into()));
                return r;
            }
            Err(Failed(name, e)) => {
                crate::warn!("http-sd: {name}: {e}");
                return json_error(500, &format!("{name}: {e}"), Some(&name));
            }
        };
        if debug {
            // prometheus-http-sd's shape: {"generator_run_seconds": {"<file path>": seconds}}.
            let times: serde_json::Map<String, serde_json::Value> = gens
                .iter()
                .zip(&done)
                .map(|(g, (_, d))| {
                    (
                        self.root.join(&*g.rel).display().to_string(),
                        d.took.as_secs_f64().into(),
                    )
                })
                .collect();
            let mut o = serde_json::Map::new();
            o.insert("generator_run_seconds".into(), times.into());
            return Response::json(200, serde_json::Value::Object(o).to_string());
        }
        let len: usize = done.iter().map(|(f, _)| f.json.len() + 1).sum();
        let mut body = Vec::with_capacity(len + 2);
        body.push(b'[');
        for (f, _) in &done {
            if f.json.is_empty() {
                continue;
            }
            if body.len() > 1 {
                body.push(b',');
            }
            body.extend_from_slice(f.json.as_bytes());
        }
        body.push(b']');
        Response::json(200, body)
    }

    /// What the tree holds under a decoded request path: the walk made at the current
    /// generation of the tree watch if there is one, else a new walk (which stats every file).
    fn walk(&self, decoded: &str) -> Result<(String, Arc<Vec<Found>>), tree::PathError> {
        let rel = tree::normalize(decoded)?;
        let generation = self.listings.watch.generation();
        if let Some(g) = generation {
            let walks = self.walks.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, found)) = walks.get(&rel).filter(|(at, _)| *at == g) {
                return Ok((rel, found.clone()));
            }
        }
        let start = tree::resolve(&self.root, decoded)?;
        let mut found = Vec::new();
        tree::walk(&self.root, &start, &self.listings, &mut found);
        let found = Arc::new(found);
        // Broken entries may heal without an event in a watched directory (a dangling
        // symlink's target appearing elsewhere): such walks are redone every time. Only paths
        // that exist get here, so the map is bounded by the tree, not by requests.
        if let Some(g) = generation {
            if !found.iter().any(|f| matches!(f, Found::Broken(..))) {
                let mut walks = self.walks.lock().unwrap_or_else(|e| e.into_inner());
                walks.insert(rel.clone(), (g, found.clone()));
            }
        }
        Ok((rel, found))
    }

    /// Every generator's fragment, in order, or the first failure in path order.
    fn results(
        &self,
        gens: &[Generator],
        params: &[(String, String)],
    ) -> Result<Vec<(Arc<Fragment>, Done)>, Failed> {
        let keys = gens.iter().map(|g| Key {
            rel: g.rel.clone(),
            params: if g.kind.is_static() {
                Vec::new()
            } else {
                params.to_vec()
            },
        });
        let slots = self.cache.slots(keys);
        let mut got: Vec<Option<(Done, How)>> = slots
            .iter()
            .zip(gens)
            .map(|(s, g)| self.cache.fresh(s, g).map(|d| (d, How::Hit)))
            .collect();
        let missing: Vec<usize> = (0..gens.len()).filter(|&i| got[i].is_none()).collect();
        let spawn = self.spawn();
        let busy = std::sync::atomic::AtomicBool::new(false);
        let fetch = |i: usize| {
            let g = &gens[i];
            let p = if g.kind.is_static() { &[][..] } else { params };
            let got = self.cache.get(&slots[i], g, || {
                // Files are read without a permit; programs run only with one.
                let _permit = match g.kind.is_static() {
                    true => None,
                    false => Some(self.runs.try_start()?),
                };
                Some(produce(g, p, &spawn).map(|groups| Fragment::new(&groups)))
            });
            if got.is_none() {
                busy.store(true, Ordering::Relaxed);
            }
            got
        };
        // Files are read inline; programs may be slow, so several run side by side.
        let (files, programs): (Vec<usize>, Vec<usize>) =
            missing.into_iter().partition(|&i| gens[i].kind.is_static());
        for i in files {
            got[i] = fetch(i);
        }
        if programs.len() == 1 {
            got[programs[0]] = fetch(programs[0]);
        } else {
            // Never more side by side than the global cap, so that a request alone is
            // never refused by its own runs.
            for chunk in programs.chunks(PARALLEL_RUNS.min(self.runs.max)) {
                if busy.load(Ordering::Relaxed) {
                    break;
                }
                let outs: Vec<(usize, (Done, How))> = std::thread::scope(|s| {
                    let handles: Vec<_> = chunk
                        .iter()
                        .filter_map(|&i| {
                            // A thread here only waits on a child and parses its output.
                            let b = std::thread::Builder::new().stack_size(256 * 1024);
                            b.spawn_scoped(s, move || fetch(i)).ok().map(|h| (i, h))
                        })
                        .collect();
                    handles
                        .into_iter()
                        .filter_map(|(i, h)| h.join().ok().flatten().map(|r| (i, r)))
                        .collect()
                });
                for (i, r) in outs {
                    got[i] = Some(r);
                }
            }
        }
        self.record(gens, &got);
        if busy.load(Ordering::Relaxed) {
            return Err(Failed(String::new(), Error::Busy(self.runs.max)));
        }
        let mut out = Vec::with_capacity(gens.len());
        for (g, r) in gens.iter().zip(got) {
            let Some((d, _)) = r else {
                return Err(Failed(
                    g.rel.to_string(),
                    Error::Spawn("generator thread failed".into()),
                ));
            };
            match &d.result {
                Ok(f) => out.push((f.clone(), d)),
                Err(e) => return Err(Failed(g.rel.to_string(), e.clone())),
            }
        }
        Ok(out)
    }

    fn record(&self, gens: &[Generator], got: &[Option<(Done, How)>]) {
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        for (g, r) in gens.iter().zip(got) {
            let Some((d, how)) = r else { continue };
            let s = match stats.get_mut(&*g.rel) {
                Some(s) => s,
                None => stats.entry(g.rel.to_string()).or_default(),
            };
            if *how != How::Ran {
                s.hits += 1;
                continue;
            }
            s.runs += 1;
            let secs = d.took.as_secs_f64();
            s.duration_sum += secs;
            for (i, (le, _)) in BUCKETS.iter().enumerate() {
                if secs <= *le {
                    s.buckets[i] += 1;
                }
            }
            match &d.result {
                Ok(f) => s.targets = f.targets,
                Err(_) => s.failures += 1,
            }
        }
    }

    /// `<prefix>/targets-index`: every target path with the number of generators it runs.
    fn index(&self) -> Response {
        let mut found = Vec::new();
        let start = tree::Start {
            path: self.root.clone(),
            real: self.root.clone(),
            rel: String::new(),
        };
        tree::walk(&self.root, &start, &self.listings, &mut found);
        // Path -> (generators, broken entries), for every directory including the root.
        let mut dirs: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        dirs.insert(String::new(), (0, 0));
        for f in &found {
            let (name, gen) = match f {
                Found::Dir(d) => {
                    dirs.entry(d.to_string()).or_default();
                    continue;
                }
                Found::Generator(g) => (&g.rel, true),
                Found::Broken(n, _) => (n, false),
                Found::Skipped(_) => continue,
            };
            let mut dir: &str = name;
            loop {
                dir = dir.rfind('/').map_or("", |i| &dir[..i]);
                let e = dirs.entry(dir.to_string()).or_default();
                if gen {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
                if dir.is_empty() {
                    break;
                }
            }
        }
        let base = self.targets_path();
        let mut s = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>promlet HTTP SD</title></head>\n<body>\n<h1>HTTP SD target paths</h1>\n",
        );
        s.push_str(&format!(
            "<p>Directory: <code>{}</code></p>\n<table>\n<tr><th align=\"left\">path</th><th>generators</th><th>broken</th></tr>\n",
            html_escape(&self.root.display().to_string())
        ));
        for (d, (n, broken)) in &dirs {
            let shown = if d.is_empty() {
                format!("{base}/")
            } else {
                format!("{base}/{d}")
            };
            s.push_str(&format!(
                "<tr><td><a href=\"{}\">{}</a></td><td align=\"right\">{n}</td><td align=\"right\">{broken}</td></tr>\n",
                html_escape(&url_path_escape(&shown)),
                html_escape(&shown)
            ));
        }
        s.push_str("</table>\n<p>Add <code>?debug=true</code> to a path for each generator's run time.</p>\n</body></html>\n");
        Response::html(s)
    }
}

/// Percent-encodes what a URL path cannot hold as is.
fn url_path_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// The parameters a request passes to generator programs (first value per name, sorted by
/// name) and whether `debug=true` was asked (that exact value, like prometheus-http-sd).
fn query_params(req: &Request) -> Result<(Vec<(String, String)>, bool), String> {
    let mut debug = false;
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in req.query_pairs() {
        if k == "debug" && v == "true" {
            debug = true;
            continue;
        }
        // Names become Python keyword arguments and `name=value` program arguments: keep
        // them to identifier-like names so a parameter can never look like an option.
        let ok = k
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !ok {
            return Err(format!("bad query parameter name {k:?}"));
        }
        if v.contains('\0') {
            return Err(format!("bad value for query parameter {k:?}"));
        }
        params.entry(k).or_insert(v);
        if params.len() > MAX_PARAMS {
            return Err(format!("more than {MAX_PARAMS} query parameters"));
        }
    }
    Ok((params.into_iter().collect(), debug))
}

/// The part: routes share the state through the `Arc`.
pub struct HttpSd(Arc<Sd>);

impl Part for HttpSd {
    fn routes(&self) -> Vec<Route> {
        let base = self.0.targets_path();
        let (a, b) = (self.0.clone(), self.0.clone());
        let mut routes = vec![
            Route::prefix(
                &base,
                "HTTP SD targets (the whole tree; /targets/<path> for a subtree)",
                move |r: &Request| a.serve_targets(r),
            ),
            Route::new(
                &format!("{base}-index"),
                "HTTP SD target paths",
                move |_: &Request| b.index(),
            ),
        ];
        // Behind a reverse proxy the prefix itself is the natural front page.
        if !self.0.prefix.is_empty() {
            for p in [format!("{}/", self.0.prefix), self.0.prefix.clone()] {
                let sd = self.0.clone();
                routes.push(Route::new(&p, "", move |_: &Request| sd.index()));
            }
        }
        routes
    }

    fn write_metrics(&self, enc: &mut Encoder) {
        self.0.write_metrics(enc);
    }
}

impl Sd {
    fn write_metrics(&self, enc: &mut Encoder) {
        let mut f = enc.family(
            "promlet_http_sd_requests_total",
            "HTTP SD target list requests answered, by HTTP status code.",
            MetricType::Counter,
        );
        for (i, c) in CODES.iter().enumerate() {
            f.sample(
                &[("code", &c.to_string())],
                self.answers[i].load(Ordering::Relaxed) as f64,
            );
        }
        let stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        if stats.is_empty() {
            return;
        }
        let counters: [Counter; 3] = [
            (
                "promlet_http_sd_generator_runs_total",
                "Generator runs (static files: reads), cache misses included.",
                |s| s.runs as f64,
            ),
            (
                "promlet_http_sd_generator_failures_total",
                "Generator runs that failed: error, timeout, non-zero exit or invalid target groups.",
                |s| s.failures as f64,
            ),
            (
                "promlet_http_sd_generator_cache_hits_total",
                "Requests answered from a generator's cached result or by joining a run in progress.",
                |s| s.hits as f64,
            ),
        ];
        for (name, help, get) in counters {
            let mut f = enc.family(name, help, MetricType::Counter);
            for (g, s) in stats.iter() {
                f.sample(&[("generator", g)], get(s));
            }
        }
        let mut f = enc.family(
            "promlet_http_sd_generator_targets",
            "Targets the generator's last successful run produced.",
            MetricType::Gauge,
        );
        for (g, s) in stats.iter() {
            f.sample(&[("generator", g)], s.targets as f64);
        }
        let mut f = enc.family(
            "promlet_http_sd_generator_duration_seconds",
            "Time generator runs took.",
            MetricType::Histogram,
        );
        for (g, s) in stats.iter() {
            for (i, (_, le)) in BUCKETS.iter().enumerate() {
                f.sample_suffix(
                    "_bucket",
                    &[("generator", g), ("le", le)],
                    s.buckets[i] as f64,
                );
            }
            f.sample_suffix(
                "_bucket",
                &[("generator", g), ("le", "+Inf")],
                s.runs as f64,
            );
            f.sample_suffix("_sum", &[("generator", g)], s.duration_sum);
            f.sample_suffix("_count", &[("generator", g)], s.runs as f64);
        }
    }
}
