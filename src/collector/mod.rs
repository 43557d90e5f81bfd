//! Node collectors, one file each, with node_exporter's metric names, labels and units.
//!
//! Each collector implements [`Collector`] and is registered by one row in [`entries`]: that
//! row is the only place that knows its name, whether it is on by default, and its extra flags.
//! `--collector.<name>` / `--no-collector.<name>` are generated from the table. A collector that
//! fails has its partial output dropped and is reported through
//! `node_scrape_collector_success`; it never fails the scrape.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

mod cpu;
pub(crate) mod filesystem;
pub(crate) mod loadavg;
pub(crate) mod meminfo;
pub(crate) mod netdev;
pub(crate) mod pattern;
pub(crate) mod procstat;
mod stat;
pub(crate) mod textfile;
mod time;
mod uname;

/// Where the collectors read the machine from (`--path.procfs`, `--path.sysfs`, `--path.rootfs`).
#[derive(Clone, Debug)]
pub struct Paths {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
    pub rootfs: PathBuf,
}

impl Paths {
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.procfs.join(rel)
    }
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }
}

/// Why a collector failed; always names the file it was reading.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    Io { path: PathBuf, err: std::io::Error },
    Parse { path: PathBuf, msg: String },
    Other(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io { path, err } => write!(f, "{}: {err}", path.display()),
            Error::Parse { path, msg } => write!(f, "{}: {msg}", path.display()),
            Error::Other(m) => f.write_str(m),
        }
    }
}

/// Reads a whole file, with the path in the error. procfs and sysfs files report size 0, so
/// rather than `fs::read_to_string` (a statx for a size hint, then reads growing from a small
/// buffer) this reads 8 KiB at a time: two read calls for the usual /proc file.
pub fn read(path: &Path) -> Result<String, Error> {
    let io = |err| Error::Io {
        path: path.to_path_buf(),
        err,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    read_from(&mut f, path)
}

/// The rest of an open file as text (see [`read`]).
pub fn read_from(f: &mut std::fs::File, path: &Path) -> Result<String, Error> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match f.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    err,
                })
            }
        }
    }
    String::from_utf8(out).map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        msg: "not UTF-8".into(),
    })
}

thread_local! {
    // Which scrape the current thread is running (0: none), so that collectors reading the
    // same file in one scrape (`cpu` and `stat` both read /proc/stat) read it once.
    static SCRAPE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static SHARED_READ: std::cell::RefCell<(usize, PathBuf, String)> =
        std::cell::RefCell::new((0, PathBuf::new(), String::new()));
}

// usize, not u64: only equality matters.
static NEXT_SCRAPE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// Like [`read`], but a second read of the same path within one scrape returns the first
/// read's text (the kernel builds /proc/stat afresh on every read, and it is not cheap).
pub fn read_shared(path: &Path) -> Result<String, Error> {
    let scrape = SCRAPE.with(|s| s.get());
    if scrape != 0 {
        let hit = SHARED_READ.with(|c| {
            let c = c.borrow();
            (c.0 == scrape && c.1 == path).then(|| c.2.clone())
        });
        if let Some(t) = hit {
            return Ok(t);
        }
    }
    let text = read(path)?;
    if scrape != 0 {
        SHARED_READ.with(|c| *c.borrow_mut() = (scrape, path.to_path_buf(), text.clone()));
    }
    Ok(text)
}

/// One collector.
pub trait Collector: Send + Sync {
    /// Starts slow work that can overlap with the other collectors (the filesystem
    /// collector's statfs calls on their own thread). Called, on the scrape's thread, for every
    /// collector of the scrape before the first `update`.
    fn prepare(&self) {}
    fn update(&self, enc: &mut Encoder) -> Result<(), Error>;
}

/// Builds a collector from the paths and flags.
pub type NewFn = fn(&Paths, &Flags) -> Result<Box<dyn Collector>, String>;

/// One row of the collector table.
pub struct Entry {
    pub name: &'static str,
    pub default_enabled: bool,
    /// Extra flags of this collector (`--collector.filesystem.mount-points-exclude`, ...).
    pub flags: fn() -> Vec<Spec>,
    pub new: NewFn,
}

fn no_flags() -> Vec<Spec> {
    Vec::new()
}

/// The table: every collector compiled in.
pub fn entries() -> Vec<Entry> {
    let row = |name, flags, new| Entry {
        name,
        default_enabled: true,
        flags,
        new,
    };
    vec![
        row("cpu", cpu::flags, cpu::new),
        row("loadavg", no_flags, loadavg::new),
        row("meminfo", no_flags, meminfo::new),
        row("netdev", netdev::flags, netdev::new),
        row("stat", no_flags, stat::new),
        row("time", no_flags, time::new),
        row("uname", no_flags, uname::new),
        // After the quick ones: its statfs calls, queued in `prepare`, run meanwhile.
        row("filesystem", filesystem::flags, filesystem::new),
        // Last, so a textfile cannot take a name a collector writes (it is refused instead).
        row("textfile", textfile::flags, textfile::new),
    ]
}

/// USER_HZ, the unit of `/proc/stat` CPU columns (100 on every Linux port in practice).
pub fn user_hz() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// `--collector.<name>` switches and each collector's own flags.
pub fn flag_specs() -> Vec<Spec> {
    let mut v = vec![Spec::switch(
        "collector.disable-defaults",
        false,
        "Set all collectors to disabled by default; enable them one by one with --collector.<name>.",
    )];
    for e in entries() {
        v.push(Spec::switch(
            &format!("collector.{}", e.name),
            e.default_enabled,
            &format!("Enable the {} collector.", e.name),
        ));
        v.extend((e.flags)());
    }
    v
}

/// The enabled collectors.
pub struct Node {
    collectors: Vec<(&'static str, Box<dyn Collector>)>,
}

impl Node {
    pub fn new(paths: &Paths, flags: &Flags) -> Result<Node, String> {
        let mut collectors = Vec::new();
        let defaults_off = flags.switch("collector.disable-defaults");
        for e in entries() {
            let flag = format!("collector.{}", e.name);
            // As in node_exporter: with --collector.disable-defaults only collectors named on the
            // command line run.
            let on = if defaults_off {
                flags.is_given(&flag) && flags.switch(&flag)
            } else {
                flags.switch(&flag)
            };
            if on {
                let c = (e.new)(paths, flags).map_err(|m| format!("collector {}: {m}", e.name))?;
                collectors.push((e.name, c));
            }
        }
        Ok(Node { collectors })
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.collectors.iter().map(|(n, _)| *n).collect()
    }

    /// Runs the collectors `wanted` accepts, then writes their duration and success.
    pub fn write(&self, enc: &mut Encoder, wanted: &dyn Fn(&str) -> bool) {
        let id = NEXT_SCRAPE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        SCRAPE.with(|s| s.set(id));
        self.run(enc, wanted);
        SCRAPE.with(|s| s.set(0));
    }

    fn run(&self, enc: &mut Encoder, wanted: &dyn Fn(&str) -> bool) {
        let mut results = Vec::with_capacity(self.collectors.len());
        // Time spent in `prepare` counts towards the collector's duration.
        let mut prepared = Vec::with_capacity(self.collectors.len());
        for (name, c) in &self.collectors {
            let t0 = Instant::now();
            if wanted(name) {
                c.prepare();
            }
            prepared.push(t0.elapsed());
        }
        for ((name, c), before) in self.collectors.iter().zip(prepared) {
            if !wanted(name) {
                continue;
            }
            let cp = enc.checkpoint();
            let t0 = Instant::now()
                .checked_sub(before)
                .unwrap_or_else(Instant::now);
            let ok = match c.update(enc) {
                Ok(()) => true,
                Err(e) => {
                    enc.rollback(cp);
                    crate::error!("collector {name} failed: {e}");
                    false
                }
            };
            results.push((*name, t0.elapsed().as_secs_f64(), ok));
        }
        if results.is_empty() {
            return;
        }
        let mut f = enc.family(
            "node_scrape_collector_duration_seconds",
            "node_exporter: Duration of a collector scrape.",
            MetricType::Gauge,
        );
        for (name, d, _) in &results {
            f.sample(&[("collector", name)], *d);
        }
        let mut f = enc.family(
            "node_scrape_collector_success",
            "node_exporter: Whether a collector succeeded.",
            MetricType::Gauge,
        );
        for (name, _, ok) in &results {
            f.sample(&[("collector", name)], if *ok { 1.0 } else { 0.0 });
        }
    }
}
