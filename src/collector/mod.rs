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

pub(crate) mod arp;
#[cfg(feature = "node-server")]
pub(crate) mod bcache;
mod bonding;
pub(crate) mod btrfs;
pub(crate) mod conntrack;
pub(crate) mod cpu;
mod cpufreq;
pub(crate) mod diskstats;
mod dmi;
#[cfg(feature = "node-server")]
mod edac;
pub(crate) mod entropy;
#[cfg(feature = "node-server")]
pub(crate) mod fibrechannel;
pub(crate) mod filefd;
pub(crate) mod filesystem;
mod hwmon;
#[cfg(feature = "node-server")]
pub(crate) mod infiniband;
#[cfg(feature = "node-server")]
pub(crate) mod ipvs;
pub(crate) mod loadavg;
pub(crate) mod mdadm;
pub(crate) mod meminfo;
#[cfg(feature = "router")]
mod nat_traffic;
mod netclass;
pub(crate) mod netdev;
pub(crate) mod netstat;
pub(crate) mod nfs;
#[cfg(feature = "node-server")]
pub(crate) mod nfsd;
mod nvme;
#[cfg(feature = "router")]
mod openwrt;
pub(crate) mod os;
pub(crate) mod pattern;
mod powersupplyclass;
pub(crate) mod pressure;
pub(crate) mod procstat;
#[cfg(feature = "node-server")]
mod rapl;
pub(crate) mod schedstat;
mod selinux;
#[cfg(feature = "router")]
mod snmp6;
pub(crate) mod sockstat;
pub(crate) mod softnet;
mod stat;
mod sysfs;
#[cfg(feature = "node-server")]
pub(crate) mod tapestats;
pub(crate) mod textfile;
mod thermal_zone;
mod time;
pub(crate) mod timex;
pub(crate) mod udp_queues;
mod uname;
pub(crate) mod vmstat;
#[cfg(feature = "router")]
mod wifi;
#[cfg(feature = "node-server")]
pub(crate) mod xfs;
#[cfg(feature = "node-server")]
pub(crate) mod zfs;

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
    Io {
        path: PathBuf,
        err: std::io::Error,
    },
    Parse {
        path: PathBuf,
        msg: String,
    },
    Other(String),
    /// The source does not exist on this machine (no hwmon on a VM, no md arrays): reported
    /// as a failure, as node_exporter's ErrNoData is, but not logged as an error.
    NoData(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io { path, err } => write!(f, "{}: {err}", path.display()),
            Error::Parse { path, msg } => write!(f, "{}: {msg}", path.display()),
            Error::Other(m) => f.write_str(m),
            Error::NoData(m) => write!(f, "no data: {m}"),
        }
    }
}

/// Reads a whole file, with the path in the error. procfs and sysfs files report size 0, so
/// rather than `fs::read_to_string` (a statx for a size hint, then reads growing from a small
/// buffer) this reads 8 KiB at a time: two read calls for the usual /proc file.
///
/// procfs files are opened once and re-read from offset 0 on later scrapes (see [`held`]);
/// everything else (sysfs, /etc, a fixture tree under `--path.procfs`) is opened every time.
pub fn read(path: &Path) -> Result<String, Error> {
    let io = |err| Error::Io {
        path: path.to_path_buf(),
        err,
    };
    if let Some(f) = held::get(path) {
        if let Ok(text) = held::read(&f, path) {
            return Ok(text);
        }
        // Gone or failing (a module unloaded, a proc entry removed): open it afresh.
        held::forget(path);
    }
    let mut f = sysfs::open_at(rustix::fs::CWD, path).map_err(io)?;
    if held::under_root(path) && held::is_procfs(&f) {
        let f = held::keep(path, f);
        return held::read(&f, path);
    }
    read_from(&mut f, path)
}

/// The most descriptors the collectors hold open between scrapes (procfs files and netclass
/// attributes); the server keeps them out of its connection cap.
pub const HELD_FDS: usize = held::MAX + netclass::HELD_MAX;

/// procfs files held open across scrapes. A scrape reads about 40 of them, and opening one
/// costs more than reading it: the path walk (`/proc/net` is a symlink to `self/net`, so
/// every `/proc/net/*` open resolves the process too) and the open and close were a third of
/// a scrape's CPU time. A procfs file (a seq_file or a sysctl) builds its text afresh when
/// read from offset 0, which is what `pread` at 0 does; procps reads /proc/stat the same way.
/// Only procfs (checked with fstatfs, once): a regular file, as in a fixture tree, may be
/// replaced by a rename, and the held descriptor would go on reading the old one. The
/// `/proc/net` files belong to promlet's network namespace, which does not change.
mod held {
    use std::fs::File;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex, PoisonError};

    use super::Error;

    /// At most this many (the default set holds about 40); past it files are not kept.
    pub const MAX: usize = 128;

    /// Each file with its own lock: a text longer than one read is read in several `pread`s,
    /// and two scrapes interleaving them on one seq_file would mix two versions of it.
    type Held = Arc<Mutex<File>>;

    static FILES: Mutex<Vec<(PathBuf, Held)>> = Mutex::new(Vec::new());
    /// `--path.procfs`: only files under it are checked for procfs (an fstatfs each).
    // An Option: PathBuf::new is const only since Rust 1.91, and the MSRV is 1.80.
    static ROOT: Mutex<Option<PathBuf>> = Mutex::new(None);

    pub fn set_root(root: &Path) {
        *ROOT.lock().unwrap_or_else(PoisonError::into_inner) = Some(root.to_path_buf());
    }

    pub fn under_root(path: &Path) -> bool {
        let root = ROOT.lock().unwrap_or_else(PoisonError::into_inner);
        root.as_ref()
            .is_some_and(|r| !r.as_os_str().is_empty() && path.starts_with(r))
    }

    fn files() -> std::sync::MutexGuard<'static, Vec<(PathBuf, Held)>> {
        FILES.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(path: &Path) -> Option<Held> {
        files()
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, f)| f.clone())
    }

    pub fn forget(path: &Path) {
        files().retain(|(p, _)| p != path);
    }

    pub fn is_procfs(f: &File) -> bool {
        const PROC_SUPER_MAGIC: u64 = 0x9fa0;
        rustix::fs::fstatfs(f).is_ok_and(|s| s.f_type as u64 == PROC_SUPER_MAGIC)
    }

    /// Holds `f` (unless [`MAX`] are held already) and returns it.
    pub fn keep(path: &Path, f: File) -> Held {
        let f = Arc::new(Mutex::new(f));
        let mut files = files();
        if files.len() < MAX && !files.iter().any(|(p, _)| p == path) {
            files.push((path.to_path_buf(), f.clone()));
        }
        f
    }

    /// The whole text, read from offset 0 (with [`super::read_from`]).
    pub fn read(f: &Held, path: &Path) -> Result<String, Error> {
        let f = f.lock().unwrap_or_else(PoisonError::into_inner);
        super::read_from(&mut super::sysfs::FromStart::new(&f), path)
    }
}

/// Like [`read`], but a file that does not exist is `None`: the collectors whose source is
/// optional (a kernel option, a module not loaded) emit nothing for it.
pub fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match read(path) {
        Ok(t) => Ok(Some(t)),
        Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The rest of an open file as text (see [`read`]).
pub fn read_from(f: &mut impl std::io::Read, path: &Path) -> Result<String, Error> {
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

/// Writes one family through `fill`, which calls `add(labels, value)` per sample; a family that
/// gets no sample is not written at all, as node_exporter shows no HELP/TYPE without series.
pub fn write_family(
    enc: &mut Encoder,
    name: &str,
    help: &str,
    typ: MetricType,
    fill: impl FnOnce(&mut dyn FnMut(&[(&str, &str)], f64)),
) {
    let cp = enc.checkpoint();
    let mut n = 0usize;
    {
        let mut f = enc.family(name, help, typ);
        fill(&mut |labels, v| {
            f.sample(labels, v);
            n += 1;
        });
    }
    if n == 0 {
        enc.rollback(cp);
    }
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
    /// Whether a default-on collector applies to this machine (`openwrt` only where
    /// `/etc/openwrt_release` exists); decided at start. An explicit flag overrides it.
    pub applies: fn(&Paths) -> bool,
    /// Extra flags of this collector (`--collector.filesystem.mount-points-exclude`, ...).
    pub flags: fn() -> Vec<Spec>,
    pub new: NewFn,
}

fn no_flags() -> Vec<Spec> {
    Vec::new()
}

fn everywhere(_: &Paths) -> bool {
    true
}

/// The table: every collector compiled in.
pub fn entries() -> Vec<Entry> {
    let row = |name, flags, new| Entry {
        name,
        default_enabled: true,
        applies: everywhere,
        flags,
        new,
    };
    let mut v = vec![
        row("cpu", cpu::flags, cpu::new),
        row("loadavg", no_flags, loadavg::new),
        row("meminfo", no_flags, meminfo::new),
        row("netdev", netdev::flags, netdev::new),
        row("stat", stat::flags, stat::new),
        row("time", no_flags, time::new),
        row("arp", arp::flags, arp::new),
        row("conntrack", no_flags, conntrack::new),
        row("diskstats", diskstats::flags, diskstats::new),
        row("entropy", no_flags, entropy::new),
        row("filefd", no_flags, filefd::new),
        row("netstat", netstat::flags, netstat::new),
        row("pressure", no_flags, pressure::new),
        row("schedstat", no_flags, schedstat::new),
        row("sockstat", no_flags, sockstat::new),
        row("softnet", no_flags, softnet::new),
        row("timex", no_flags, timex::new),
        row("udp_queues", no_flags, udp_queues::new),
        row("vmstat", vmstat::flags, vmstat::new),
        row("uname", no_flags, uname::new),
        row("nfs", no_flags, nfs::new),
        row("btrfs", no_flags, btrfs::new),
        row("bonding", no_flags, bonding::new),
        row("cpufreq", no_flags, cpufreq::new),
        row("dmi", no_flags, dmi::new),
        row("hwmon", no_flags, hwmon::new),
        row("mdadm", no_flags, mdadm::new),
        row("netclass", netclass::flags, netclass::new),
        row("nvme", no_flags, nvme::new),
        row("os", no_flags, os::new),
        row(
            "powersupplyclass",
            powersupplyclass::flags,
            powersupplyclass::new,
        ),
        row("selinux", no_flags, selinux::new),
        row("thermal_zone", no_flags, thermal_zone::new),
    ];
    // Server hardware and services (feature `node-server`, in the default build, not in the
    // OpenWrt router variant): tape drives, NFS server, IPVS, Fibre Channel, InfiniBand, ZFS,
    // bcache, EDAC, RAPL, XFS.
    #[cfg(feature = "node-server")]
    v.extend([
        row("tapestats", tapestats::flags, tapestats::new),
        row("nfsd", no_flags, nfsd::new),
        row("ipvs", ipvs::flags, ipvs::new),
        row("fibrechannel", no_flags, fibrechannel::new),
        row("infiniband", no_flags, infiniband::new),
        row("zfs", no_flags, zfs::new),
        row("bcache", bcache::flags, bcache::new),
        row("edac", no_flags, edac::new),
        row("rapl", rapl::flags, rapl::new),
        row("xfs", no_flags, xfs::new),
    ]);
    // After the quick ones: its statfs calls, queued in `prepare`, run meanwhile.
    v.push(row("filesystem", filesystem::flags, filesystem::new));
    // The router collectors (feature `router`).
    #[cfg(feature = "router")]
    {
        let off = |name, flags, new| Entry {
            default_enabled: false,
            ..row(name, flags, new)
        };
        v.extend([
            Entry {
                applies: openwrt::present,
                ..row("openwrt", no_flags, openwrt::new)
            },
            off("wifi", no_flags, wifi::new),
            off("nat_traffic", nat_traffic::flags, nat_traffic::new),
            off("snmp6", no_flags, snmp6::new),
        ]);
    }
    // Last, so a textfile cannot take a name a collector writes (it is refused instead).
    v.push(row("textfile", textfile::flags, textfile::new));
    v
}

/// Runs the collectors' text parsers on `text`, for `promlet::fuzzing::node_proc`.
#[cfg(feature = "router")]
pub(crate) fn fuzz_parsers(text: &str) {
    if let Ok(p) = nat_traffic::parse(text) {
        let _ = p.top(3);
    }
    let _ = snmp6::parse(text);
    let _ = openwrt::parse_release(text);
    let _ = openwrt::parse_board_json(text);
    let _ = openwrt::cpu_system(text);
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
        held::set_root(&paths.procfs);
        let mut collectors = Vec::new();
        let defaults_off = flags.switch("collector.disable-defaults");
        for e in entries() {
            let flag = format!("collector.{}", e.name);
            // As in node_exporter: with --collector.disable-defaults only collectors named on the
            // command line run.
            let on = if flags.is_given(&flag) {
                flags.switch(&flag)
            } else {
                !defaults_off && e.default_enabled && (e.applies)(paths)
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
                Err(Error::NoData(_)) => {
                    enc.rollback(cp);
                    false
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A procfs file is held after its first read and later reads see fresh text; a regular
    /// file (a fixture tree) is never held, so replacing it by a rename is seen.
    #[test]
    fn procfs_files_are_held_and_regular_files_are_not() {
        held::set_root(Path::new("/proc"));
        let p = Path::new("/proc/self/stat");
        let first = read(p).unwrap();
        assert!(held::get(p).is_some());
        // The same process (the pid leads the line), read again through the held descriptor.
        let again = read(p).unwrap();
        assert_eq!(again.split(' ').next(), first.split(' ').next());
        let dir = std::env::temp_dir().join(format!("promlet-held-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        held::set_root(&dir);
        let f = dir.join("stat");
        std::fs::write(&f, "one").unwrap();
        assert_eq!(read(&f).unwrap(), "one");
        assert!(held::get(&f).is_none());
        std::fs::write(dir.join("new"), "two").unwrap();
        std::fs::rename(dir.join("new"), &f).unwrap();
        assert_eq!(read(&f).unwrap(), "two");
        held::set_root(Path::new("/proc"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_held_file_is_read_afresh_from_offset_zero() {
        held::set_root(Path::new("/proc"));
        let p = Path::new("/proc/self/status");
        for _ in 0..3 {
            let t = read(p).unwrap();
            assert!(t.starts_with("Name:"), "{t}");
            assert!(t.contains("\nVmRSS:"), "{t}");
        }
    }
}
