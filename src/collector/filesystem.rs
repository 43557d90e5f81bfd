//! `filesystem`: size, free and available bytes, inodes, read-only state and errors of every
//! mounted filesystem, with node_exporter's names and labels (`device`, `fstype`,
//! `mountpoint`, and since node_exporter 1.8 `device_error`).
//!
//! Mounts come from `<procfs>/1/mountinfo` (proc_pid_mountinfo(5)), falling back to
//! `<procfs>/self/mountinfo` when PID 1's is hidden (hidepid). Sizes come from statfs(2) on
//! `<rootfs>/<mountpoint>`.
//!
//! A hung mount (dead NFS server, wedged USB disk) blocks statfs forever. So statfs runs on a
//! worker thread and the scrape waits at most `--collector.filesystem.mount-timeout`; a mount
//! that misses it is reported with `device_error="mountpoint timeout"`, the stuck worker is
//! abandoned (a fresh one serves the next mounts) and the mount point is remembered as stuck:
//! later scrapes skip it without calling statfs until the blocked call finally returns.
//!
//! OpenWrt mounts its root as `overlayfs:/overlay on / type overlay`. node_exporter's default
//! fs-type exclusion drops `overlay` (meant for container layers), which would leave the
//! dashboards' Root FS panels empty on every router; with the default fs-type regexp we keep
//! the mount at `/` whatever its type. An explicit `--collector.filesystem.fs-types-exclude`
//! applies as given.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::pattern::Pattern;
use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{parse_duration, Flags, Spec};

/// node_exporter's upstream default (1.10+).
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter's upstream default (1.10+).
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";

pub fn flags() -> Vec<Spec> {
    vec![
        Spec::value(
            "collector.filesystem.mount-points-exclude",
            Some(DEFAULT_MOUNT_POINTS_EXCLUDE),
            "Regexp of mount points to exclude for filesystem collector.",
        ),
        Spec::value(
            "collector.filesystem.fs-types-exclude",
            Some(DEFAULT_FS_TYPES_EXCLUDE),
            "Regexp of filesystem types to exclude for filesystem collector (the root \"/\" is kept with the default).",
        ),
        Spec::value(
            "collector.filesystem.mount-timeout",
            Some("5s"),
            "How long to wait for a mount to respond before marking it as stale.",
        ),
    ]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    let re = |name: &str| -> Result<Pattern, String> {
        let s = flags.value(name).unwrap_or_default();
        Pattern::new(&s).map_err(|e| format!("--{name}: bad regexp {s:?}: {e}"))
    };
    let timeout_s = flags
        .value("collector.filesystem.mount-timeout")
        .unwrap_or_default();
    let timeout = parse_duration(&timeout_s)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            format!("--collector.filesystem.mount-timeout: bad duration {timeout_s:?}")
        })?;
    Ok(Box::new(Filesystem::new(
        paths,
        re("collector.filesystem.mount-points-exclude")?,
        re("collector.filesystem.fs-types-exclude")?,
        !flags.is_given("collector.filesystem.fs-types-exclude"),
        timeout,
        Arc::new(statfs),
    )))
}

/// One line of mountinfo, with the escapes decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub device: String,
    pub mountpoint: String,
    pub fstype: String,
    /// Per-mount options and super options, comma-joined.
    pub options: String,
}

impl Mount {
    pub fn readonly(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

/// Decodes the octal escapes the kernel writes for space, tab, newline and backslash
/// (`\040`, `\011`, `\012`, `\134`); anything else is kept as is. Non-UTF-8 becomes U+FFFD.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if v <= 255 {
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo: `id parent major:minor root mountpoint options [optional...] - fstype
/// source superoptions`.
pub fn parse_mountinfo(text: &str) -> Result<Vec<Mount>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let f: Vec<&str> = line.split(' ').collect();
        let sep = f
            .iter()
            .position(|&x| x == "-")
            .ok_or_else(|| format!("line {n}: no ' - ' separator"))?;
        if sep < 6 || f.len() < sep + 3 {
            return Err(format!("line {n}: too few fields"));
        }
        let mut options = f[5].to_string();
        if let Some(sup) = f.get(sep + 3) {
            options.push(',');
            options.push_str(sup);
        }
        out.push(Mount {
            device: unescape(f[sep + 2]),
            mountpoint: unescape(f[4]),
            fstype: f[sep + 1].to_string(),
            options,
        });
    }
    Ok(out)
}

/// What statfs(2) says about one filesystem, already in node_exporter's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsStat {
    pub size: f64,
    pub free: f64,
    pub avail: f64,
    pub files: f64,
    pub files_free: f64,
}

/// statfs(2) on `path` (a path with a NUL in it is an `InvalidInput` error).
pub fn statfs(path: &Path) -> io::Result<FsStat> {
    let s = rustix::fs::statfs(path)?;
    let bsize = s.f_bsize as f64;
    Ok(FsStat {
        size: s.f_blocks as f64 * bsize,
        free: s.f_bfree as f64 * bsize,
        avail: s.f_bavail as f64 * bsize,
        files: s.f_files as f64,
        files_free: s.f_ffree as f64,
    })
}

/// The statfs function, injectable so tests can simulate a hung mount.
pub type StatFn = Arc<dyn Fn(&Path) -> io::Result<FsStat> + Send + Sync>;

/// The hand-over between the scrape and one statfs thread: the scrape queues every mount
/// point at once and the thread answers them in order, so a scrape costs two thread wake-ups,
/// not two per mount. (A mutex and a condition variable rather than channels: the same
/// behaviour for less binary.)
#[derive(Default)]
struct Slot {
    queue: std::collections::VecDeque<(usize, PathBuf)>,
    /// The job the thread is running right now.
    busy: Option<(usize, PathBuf)>,
    done: Vec<(usize, io::Result<FsStat>)>,
    /// Set when the scrape gave up on this thread: it exits after its statfs returns.
    abandoned: bool,
}

type Shared = Arc<(Mutex<Slot>, Condvar)>;

fn lock(s: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// A statfs worker thread with a deadline per call.
struct Worker {
    stat: StatFn,
    stuck: Arc<Mutex<HashSet<PathBuf>>>,
    /// Idle statfs threads. A batch owns its thread from `submit` to `collect`, so concurrent
    /// scrapes never share one (and normally there is exactly one).
    idle: Mutex<Vec<Shared>>,
    timeout: Duration,
}

/// statfs calls queued by [`Worker::submit`], answered by [`Worker::collect`].
pub struct Batch {
    shared: Option<Shared>,
    out: Vec<Option<Outcome>>,
    pending: std::collections::VecDeque<(usize, PathBuf)>,
}

enum Outcome {
    Done(io::Result<FsStat>),
    Stuck,
}

impl Worker {
    fn spawn(&self) -> Option<Shared> {
        let shared: Shared = Arc::default();
        let (stat, stuck, sh) = (self.stat.clone(), self.stuck.clone(), shared.clone());
        std::thread::Builder::new()
            .name("statfs".into())
            .stack_size(64 * 1024)
            .spawn(move || loop {
                let (m, cv) = &*sh;
                let mut g = lock(m);
                let (i, path) = loop {
                    if g.abandoned {
                        return;
                    }
                    if let Some(j) = g.queue.pop_front() {
                        break j;
                    }
                    g = cv.wait(g).unwrap_or_else(|p| p.into_inner());
                };
                g.busy = Some((i, path.clone()));
                drop(g);
                let r = stat(&path);
                let mut g = lock(m);
                g.busy = None;
                if g.abandoned {
                    // The scrape gave up on this call and marked the mount point stuck: it
                    // answers again, so the next scrape may try it.
                    stuck
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&path);
                    return;
                }
                g.done.push((i, r));
                cv.notify_all();
            })
            .ok()?;
        Some(shared)
    }

    fn is_stuck(&self, path: &Path) -> bool {
        self.stuck
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(path)
    }

    fn take_thread(&self) -> Option<Shared> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        idle.or_else(|| self.spawn())
    }

    /// Hands `batch.pending` to a thread (a fresh one if needed), without waiting.
    fn dispatch(&self, batch: &mut Batch) {
        if batch.pending.is_empty() {
            return;
        }
        if batch.shared.is_none() {
            batch.shared = self.take_thread();
        }
        let Some(shared) = &batch.shared else {
            for (i, _) in batch.pending.drain(..) {
                batch.out[i] = Some(Outcome::Done(Err(io::Error::other(
                    "cannot start statfs thread",
                ))));
            }
            return;
        };
        let (m, cv) = &**shared;
        let mut g = lock(m);
        g.queue.extend(batch.pending.drain(..));
        cv.notify_all();
    }

    /// Queues statfs of every path (mount points known to be stuck are answered at once) and
    /// returns without waiting, so the scrape can run other collectors meanwhile.
    fn submit(&self, paths: &[PathBuf]) -> Batch {
        let mut batch = Batch {
            shared: None,
            out: paths.iter().map(|_| None).collect(),
            pending: Default::default(),
        };
        for (i, p) in paths.iter().enumerate() {
            if self.is_stuck(p) {
                batch.out[i] = Some(Outcome::Stuck);
            } else {
                batch.pending.push_back((i, p.clone()));
            }
        }
        self.dispatch(&mut batch);
        batch
    }

    /// Waits for the answers; a statfs that has not returned `timeout` after the last answer
    /// is marked stuck, its thread abandoned, and the rest moves to a fresh thread.
    fn collect(&self, mut batch: Batch) -> Vec<Outcome> {
        while let Some(shared) = batch.shared.clone() {
            let (m, cv) = &*shared;
            let mut g = lock(m);
            let mut abandoned = false;
            while batch.out.iter().any(Option::is_none) {
                let (g2, _) = cv
                    .wait_timeout_while(g, self.timeout, |s| s.done.is_empty())
                    .unwrap_or_else(|p| p.into_inner());
                g = g2;
                if !g.done.is_empty() {
                    for (i, r) in g.done.drain(..) {
                        batch.out[i] = Some(Outcome::Done(r));
                    }
                    continue;
                }
                let Some((i, path)) = g.busy.take() else {
                    continue; // not started yet (a busy machine): keep waiting
                };
                // Marking it stuck and abandoning the thread happen under the slot's lock,
                // so the thread's unmark (after it sees `abandoned`) cannot come first.
                self.stuck
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(path.clone());
                crate::warn!(
                    "statfs {} did not return within {} s; skipping it until it does",
                    path.display(),
                    self.timeout.as_secs_f64()
                );
                batch.out[i] = Some(Outcome::Stuck);
                g.abandoned = true;
                batch.pending.extend(g.queue.drain(..));
                abandoned = true;
                break;
            }
            drop(g);
            if abandoned {
                batch.shared = None;
                self.dispatch(&mut batch);
            } else {
                self.idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(shared);
                break;
            }
        }
        batch
            .out
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Stuck))
            .collect()
    }
}

pub struct Filesystem {
    procfs: PathBuf,
    rootfs: PathBuf,
    mount_points_exclude: Pattern,
    fs_types_exclude: Pattern,
    keep_root: bool,
    worker: Worker,
    /// Last mountinfo text, with the mounts and paths it gave.
    cache: Mutex<MountCache>,
}

type MountCache = Option<Mounts>;

/// The last mount table read, what it gave, and the open file that tells when it changes.
struct Mounts {
    text: String,
    mounts: Vec<Mount>,
    paths: Vec<PathBuf>,
    watch: Option<std::fs::File>,
}

/// True if the file is on procfs (only there does poll report mount table changes).
fn is_procfs(f: &std::fs::File) -> bool {
    // PROC_SUPER_MAGIC (linux/magic.h), a literal: f_type's integer type differs by target.
    rustix::fs::fstatfs(f).is_ok_and(|s| s.f_type == 0x9fa0)
}

/// True if the mount table behind an open procfs mountinfo changed since it was last read or
/// polled (or if polling fails: then read again).
fn mounts_changed(f: &std::fs::File) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut p = [PollFd::new(f, PollFlags::PRI)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut p, Some(&now)) {
        Ok(0) => false,
        Ok(_) => p[0]
            .revents()
            .intersects(PollFlags::PRI | PollFlags::ERR | PollFlags::NVAL),
        Err(_) => true,
    }
}

impl Filesystem {
    pub fn new(
        paths: &Paths,
        mount_points_exclude: Pattern,
        fs_types_exclude: Pattern,
        keep_root: bool,
        timeout: Duration,
        stat: StatFn,
    ) -> Filesystem {
        Filesystem {
            procfs: paths.procfs.clone(),
            rootfs: paths.rootfs.clone(),
            mount_points_exclude,
            fs_types_exclude,
            keep_root,
            worker: Worker {
                stat,
                stuck: Arc::default(),
                idle: Mutex::new(Vec::new()),
                timeout,
            },
            cache: Mutex::new(None),
        }
    }

    /// PID 1's mountinfo, or ours when PID 1's is hidden (hidepid): the open file, its path
    /// and its text.
    fn read_mountinfo(&self) -> Result<(std::fs::File, PathBuf, String), Error> {
        let open = |p: PathBuf| -> Result<(std::fs::File, PathBuf, String), Error> {
            let mut f = std::fs::File::open(&p).map_err(|err| Error::Io {
                path: p.clone(),
                err,
            })?;
            let t = super::read_from(&mut f, &p)?;
            Ok((f, p, t))
        };
        open(self.procfs.join("1/mountinfo")).or_else(|_| open(self.procfs.join("self/mountinfo")))
    }

    /// The wanted mounts and their statfs paths. The kernel tells when a mount table changes
    /// (an open procfs mountinfo polls POLLPRI|POLLERR after a mount or unmount, as systemd
    /// uses it), so while nothing changed the table is neither read nor parsed again. Outside
    /// procfs (fixture trees) it is read every time and reparsed when the text differs.
    fn wanted_cached(&self) -> Result<(Vec<Mount>, Vec<PathBuf>), Error> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.as_ref() {
            if c.watch.as_ref().is_some_and(|f| !mounts_changed(f)) {
                return Ok((c.mounts.clone(), c.paths.clone()));
            }
        }
        let (file, path, text) = self.read_mountinfo()?;
        if let Some(c) = cache.as_mut() {
            if c.text == text {
                c.watch = is_procfs(&file).then_some(file);
                return Ok((c.mounts.clone(), c.paths.clone()));
            }
        }
        let all = parse_mountinfo(&text).map_err(|msg| Error::Parse { path, msg })?;
        let mounts = self.wanted(all);
        let paths: Vec<PathBuf> = mounts
            .iter()
            .map(|m| self.rootfs.join(m.mountpoint.trim_start_matches('/')))
            .collect();
        *cache = Some(Mounts {
            text,
            mounts: mounts.clone(),
            paths: paths.clone(),
            watch: is_procfs(&file).then_some(file),
        });
        Ok((mounts, paths))
    }

    /// The mounts to report, excluded ones dropped, duplicates (same labels) once.
    fn wanted(&self, mounts: Vec<Mount>) -> Vec<Mount> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for mut m in mounts {
            // Mount points as seen from inside --path.rootfs (node_exporter's rootfsStripPrefix).
            if self.rootfs != Path::new("/") {
                if let Ok(rel) = Path::new(&m.mountpoint).strip_prefix(&self.rootfs) {
                    m.mountpoint = format!("/{}", rel.display());
                }
            }
            if self.mount_points_exclude.is_match(&m.mountpoint) {
                continue;
            }
            let root_kept = self.keep_root && m.mountpoint == "/";
            if !root_kept && self.fs_types_exclude.is_match(&m.fstype) {
                continue;
            }
            if seen.insert((m.device.clone(), m.fstype.clone(), m.mountpoint.clone())) {
                out.push(m);
            }
        }
        out
    }
}

/// "permission denied" from "Permission denied (os error 13)", like Go's errno strings.
fn error_text(e: &io::Error) -> String {
    let mut s = e.to_string();
    if let Some(i) = s.find(" (os error") {
        s.truncate(i);
    }
    if let Some(first) = s.get_mut(..1) {
        first.make_ascii_lowercase();
    }
    s
}

/// The label pairs of one mount, in node_exporter's (sorted) order.
fn labels<'a>(m: &'a Mount, err: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("device", &m.device),
        ("device_error", err),
        ("fstype", &m.fstype),
        ("mountpoint", &m.mountpoint),
    ]
}

thread_local! {
    // The batch a scrape thread's `prepare` queued, picked up by its `update`; keyed by the
    // collector's address so several instances (tests) never mix.
    static PENDING: std::cell::RefCell<Option<(usize, Prepared)>> = const { std::cell::RefCell::new(None) };
}

/// Mounts read and statfs calls queued, waiting for `update`.
struct Prepared {
    mounts: Vec<Mount>,
    paths: Vec<PathBuf>,
    batch: Batch,
}

impl Filesystem {
    fn start(&self) -> Result<Prepared, Error> {
        let (mounts, paths) = self.wanted_cached()?;
        let batch = self.worker.submit(&paths);
        Ok(Prepared {
            mounts,
            paths,
            batch,
        })
    }
}

impl Collector for Filesystem {
    fn prepare(&self) {
        let key = self as *const Filesystem as usize;
        // A failure here is reported again (and properly) by `update`.
        if let Ok(p) = self.start() {
            PENDING.with(|c| *c.borrow_mut() = Some((key, p)));
        }
    }

    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let key = self as *const Filesystem as usize;
        let ready = PENDING.with(|c| match c.borrow_mut().take() {
            Some((k, p)) if k == key => Some(p),
            _ => None,
        });
        let Prepared {
            mounts,
            paths,
            batch,
        } = match ready {
            Some(p) => p,
            None => self.start()?,
        };
        let outcomes = self.worker.collect(batch);
        let mut rows = Vec::with_capacity(mounts.len());
        for (o, path) in outcomes.into_iter().zip(&paths) {
            rows.push(match o {
                Outcome::Done(Ok(s)) => Ok(s),
                Outcome::Done(Err(e)) => {
                    crate::warn!("statfs {}: {e}", path.display());
                    Err(error_text(&e))
                }
                Outcome::Stuck => Err("mountpoint timeout".to_string()),
            });
        }
        type Get = fn(&FsStat) -> f64;
        let values: [(&str, &str, Get); 5] = [
            (
                "node_filesystem_size_bytes",
                "Filesystem size in bytes.",
                |s| s.size,
            ),
            (
                "node_filesystem_free_bytes",
                "Filesystem free space in bytes.",
                |s| s.free,
            ),
            (
                "node_filesystem_avail_bytes",
                "Filesystem space available to non-root users in bytes.",
                |s| s.avail,
            ),
            (
                "node_filesystem_files",
                "Filesystem total file nodes.",
                |s| s.files,
            ),
            (
                "node_filesystem_files_free",
                "Filesystem total free file nodes.",
                |s| s.files_free,
            ),
        ];
        for (name, help, get) in values {
            let mut f = enc.family(name, help, MetricType::Gauge);
            for (m, r) in mounts.iter().zip(&rows) {
                if let Ok(s) = r {
                    f.sample(&labels(m, ""), get(s));
                }
            }
        }
        let mut f = enc.family(
            "node_filesystem_readonly",
            "Filesystem read-only status.",
            MetricType::Gauge,
        );
        for (m, r) in mounts.iter().zip(&rows) {
            let err = r.as_ref().err().map_or("", |e| e.as_str());
            f.sample(&labels(m, err), if m.readonly() { 1.0 } else { 0.0 });
        }
        let mut f = enc.family(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
            MetricType::Gauge,
        );
        for (m, r) in mounts.iter().zip(&rows) {
            let err = r.as_ref().err().map_or("", |e| e.as_str());
            f.sample(&labels(m, err), if r.is_err() { 1.0 } else { 0.0 });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Condvar;

    /// Captured on this build machine: Debian 12 x86_64 KVM guest, `cat /proc/1/mountinfo`.
    const X86_64_SERVER: &str = include_str!("../../tests/fixtures/node/captures/x86_64-mountinfo");

    /// OpenWrt SNAPSHOT r27494 on a UBI-flash router. Built from the `mount` listing posted in
    /// https://github.com/themactep/thingino-firmware/pull/240 (2024-10-07): the devices, mount
    /// points, types and options are that capture's; mount IDs, parent IDs and major:minor
    /// numbers are NOT captured (mount(8) does not print them) and were filled in.
    const OPENWRT_UBI: &str = "\
14 1 31:2 / /rom ro,relatime shared:1 - squashfs /dev/root ro,errors=continue
15 20 0:5 / /proc rw,nosuid,nodev,noexec,noatime shared:5 - proc proc rw
16 20 0:16 / /sys rw,nosuid,nodev,noexec,noatime shared:6 - sysfs sysfs rw
17 16 0:17 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:7 - cgroup2 cgroup2 rw,nsdelegate
18 20 0:18 / /tmp rw,nosuid,nodev,noatime shared:8 - tmpfs tmpfs rw
19 20 0:19 / /overlay rw,noatime shared:9 - ubifs /dev/ubi0_1 rw,assert=read-only,ubi=0,vol=1
20 1 0:20 / / rw,noatime shared:10 - overlay overlayfs:/overlay rw,lowerdir=/,upperdir=/overlay/upper,workdir=/overlay/work,xino=off
21 20 0:21 / /dev rw,nosuid,noexec,noatime shared:11 - tmpfs tmpfs rw,size=512k,mode=755
22 21 0:22 / /dev/pts rw,nosuid,noexec,noatime shared:12 - devpts devpts rw,mode=600,ptmxmode=000
23 16 0:7 / /sys/kernel/debug rw,noatime shared:13 - debugfs debugfs rw
24 16 0:23 / /sys/fs/bpf rw,nosuid,nodev,noexec,noatime shared:14 - bpf bpffs rw,mode=700
25 16 0:24 / /sys/fs/pstore rw,noatime shared:15 - pstore pstore rw
";

    /// aarch64 board. NOT a capture: built from proc_pid_mountinfo(5) for a Raspberry Pi OS
    /// 64-bit layout (SD card root on mmcblk0p2, vfat boot partition, a USB disk whose label has
    /// a space, which the kernel escapes as \040); no genuine aarch64 mountinfo was found in the
    /// public material searched.
    const AARCH64_CONSTRUCTED: &str = "\
22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw
23 22 179:1 / /boot/firmware rw,relatime shared:2 - vfat /dev/mmcblk0p1 rw,fmask=0022,dmask=0022,codepage=437,iocharset=ascii,shortname=mixed,errors=remount-ro
24 22 0:21 / /proc rw,relatime shared:12 - proc proc rw
25 22 8:1 / /media/pi/My\\040Disk rw,nosuid,nodev,relatime shared:40 - exfat /dev/sda1 rw,uid=1000
26 22 8:2 / /srv/back\\134slash ro,relatime shared:41 - ext4 /dev/sda2 ro
";

    fn paths() -> Paths {
        Paths {
            procfs: "/p".into(),
            sysfs: "/s".into(),
            rootfs: "/".into(),
        }
    }

    fn fs_with(stat: StatFn, timeout: Duration) -> Filesystem {
        Filesystem::new(
            &paths(),
            Pattern::new(DEFAULT_MOUNT_POINTS_EXCLUDE).unwrap(),
            Pattern::new(DEFAULT_FS_TYPES_EXCLUDE).unwrap(),
            true,
            timeout,
            stat,
        )
    }

    fn mountpoints(ms: &[Mount]) -> Vec<&str> {
        ms.iter().map(|m| m.mountpoint.as_str()).collect()
    }

    #[test]
    fn mountinfo_x86_64_server() {
        let ms = parse_mountinfo(X86_64_SERVER).unwrap();
        assert_eq!(ms.len(), X86_64_SERVER.lines().count());
        let root = ms.iter().find(|m| m.mountpoint == "/").unwrap();
        assert_eq!(
            (root.device.as_str(), root.fstype.as_str()),
            ("/dev/vda", "ext4")
        );
        assert!(!root.readonly());
        let fs = fs_with(Arc::new(statfs), Duration::from_secs(5));
        let kept = fs.wanted(ms);
        // /dev, /proc, /sys (and all under them) go by mount point; cgroup by type.
        assert!(mountpoints(&kept).contains(&"/"));
        assert!(kept.iter().all(|m| !m.mountpoint.starts_with("/sys")
            && !m.mountpoint.starts_with("/dev")
            && !m.mountpoint.starts_with("/proc")));
    }

    #[test]
    fn mountinfo_openwrt_overlay_root_is_kept() {
        let ms = parse_mountinfo(OPENWRT_UBI).unwrap();
        let root = ms.iter().find(|m| m.mountpoint == "/").unwrap();
        assert_eq!(root.fstype, "overlay");
        assert_eq!(root.device, "overlayfs:/overlay");
        let fs = fs_with(Arc::new(statfs), Duration::from_secs(5));
        assert_eq!(
            mountpoints(&fs.wanted(ms.clone())),
            ["/tmp", "/overlay", "/"]
        );
        // /rom is squashfs (excluded by type) and read-only.
        assert!(ms[0].readonly());
        // With an explicit fs-types-exclude, it applies as given (no special case).
        let mut fs = fs;
        fs.keep_root = false;
        assert_eq!(mountpoints(&fs.wanted(ms)), ["/tmp", "/overlay"]);
    }

    #[test]
    fn mountinfo_aarch64_constructed_escapes() {
        let ms = parse_mountinfo(AARCH64_CONSTRUCTED).unwrap();
        assert_eq!(ms[3].mountpoint, "/media/pi/My Disk");
        assert_eq!(ms[4].mountpoint, "/srv/back\\slash");
        assert!(ms[4].readonly());
        assert!(!ms[0].readonly());
    }

    #[test]
    fn unescape_octal() {
        assert_eq!(unescape("a\\040b\\011c\\012d\\134e"), "a b\tc\nd\\e");
        assert_eq!(
            unescape("trailing\\04"),
            "trailing\\04",
            "truncated escape kept"
        );
        assert_eq!(unescape("\\999"), "\\999");
        assert_eq!(unescape("\\377"), "\u{fffd}", "non-UTF-8 replaced");
    }

    #[test]
    fn mountinfo_malformed_and_truncated() {
        assert!(
            parse_mountinfo("22 1 179:2 / / rw,noatime shared:1 ext4 /dev/x rw\n").is_err(),
            "no separator"
        );
        assert!(
            parse_mountinfo("22 1 / / - ext4 /dev/x rw\n").is_err(),
            "too few before -"
        );
        assert!(
            parse_mountinfo("22 1 179:2 / / rw - ext4\n").is_err(),
            "cut after fstype"
        );
        assert_eq!(parse_mountinfo("").unwrap().len(), 0);
        // No super options (cut right after the source): still a mount.
        let ms = parse_mountinfo("22 1 179:2 / / rw - ext4 /dev/x\n").unwrap();
        assert_eq!(ms[0].options, "rw");
    }

    #[test]
    fn duplicates_are_reported_once() {
        let t = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 8:1 / / rw - ext4 /dev/sda1 rw\n";
        let fs = fs_with(Arc::new(statfs), Duration::from_secs(5));
        assert_eq!(fs.wanted(parse_mountinfo(t).unwrap()).len(), 1);
    }

    /// A statfs that hangs on "/hung" until released, counting its calls.
    struct Gate {
        open: Mutex<bool>,
        cv: Condvar,
        calls: AtomicUsize,
    }

    fn write_fixture(dir: &Path, mountinfo: &str) -> Paths {
        std::fs::create_dir_all(dir.join("proc/1")).unwrap();
        std::fs::write(dir.join("proc/1/mountinfo"), mountinfo).unwrap();
        Paths {
            procfs: dir.join("proc"),
            sysfs: dir.join("sys"),
            rootfs: "/".into(),
        }
    }

    fn scrape(fs: &Filesystem) -> String {
        let mut enc = Encoder::new();
        fs.update(&mut enc).unwrap();
        String::from_utf8(enc.into_bytes()).unwrap()
    }

    #[test]
    fn hung_mount_is_skipped_and_remembered() {
        let dir = std::env::temp_dir().join(format!("promlet-fs-hung-{}", std::process::id()));
        let paths = write_fixture(
            &dir,
            "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 0:50 / /hung rw - nfs srv:/x rw\n3 1 8:2 / /data ro - ext4 /dev/sda2 ro\n",
        );
        let gate = Arc::new(Gate {
            open: Mutex::new(false),
            cv: Condvar::new(),
            calls: AtomicUsize::new(0),
        });
        let g = gate.clone();
        let stat: StatFn = Arc::new(move |p: &Path| {
            if p == Path::new("/hung") {
                g.calls.fetch_add(1, Ordering::SeqCst);
                let mut open = g.open.lock().unwrap();
                while !*open {
                    open = g.cv.wait(open).unwrap();
                }
            }
            Ok(FsStat {
                size: 1000.0,
                free: 500.0,
                avail: 400.0,
                files: 10.0,
                files_free: 5.0,
            })
        });
        let fs = Filesystem::new(
            &paths,
            Pattern::new(DEFAULT_MOUNT_POINTS_EXCLUDE).unwrap(),
            Pattern::new(DEFAULT_FS_TYPES_EXCLUDE).unwrap(),
            true,
            Duration::from_millis(200),
            stat,
        );
        let hung = "{device=\"srv:/x\",device_error=\"mountpoint timeout\",fstype=\"nfs\",mountpoint=\"/hung\"}";
        let out = scrape(&fs);
        assert!(
            out.contains(&format!("node_filesystem_device_error{hung} 1\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("node_filesystem_readonly{hung} 0\n")),
            "{out}"
        );
        assert!(
            !out.contains("node_filesystem_size_bytes{device=\"srv:/x\""),
            "{out}"
        );
        // The mounts after the hung one were still served by a fresh worker.
        assert!(out.contains("node_filesystem_size_bytes{device=\"/dev/sda2\",device_error=\"\",fstype=\"ext4\",mountpoint=\"/data\"} 1000\n"), "{out}");
        assert!(out.contains("node_filesystem_readonly{device=\"/dev/sda2\",device_error=\"\",fstype=\"ext4\",mountpoint=\"/data\"} 1\n"), "{out}");
        assert_eq!(gate.calls.load(Ordering::SeqCst), 1);

        // Second scrape, the way Node runs it (prepare, then update): skipped without calling
        // statfs again.
        fs.prepare();
        let out = scrape(&fs);
        assert!(
            out.contains(&format!("node_filesystem_device_error{hung} 1\n")),
            "{out}"
        );
        assert_eq!(
            gate.calls.load(Ordering::SeqCst),
            1,
            "stuck mount not retried"
        );

        // The blocked call returns: the mount point is tried (and served) again.
        *gate.open.lock().unwrap() = true;
        gate.cv.notify_all();
        let ok = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            !fs.worker.is_stuck(Path::new("/hung"))
        });
        assert!(ok, "stuck mark never cleared");
        let out = scrape(&fs);
        assert!(out.contains("node_filesystem_size_bytes{device=\"srv:/x\",device_error=\"\",fstype=\"nfs\",mountpoint=\"/hung\"} 1000\n"), "{out}");
        assert_eq!(gate.calls.load(Ordering::SeqCst), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn statfs_error_is_a_device_error_label() {
        let dir = std::env::temp_dir().join(format!("promlet-fs-err-{}", std::process::id()));
        let paths = write_fixture(&dir, "1 0 8:1 / /gone rw - ext4 /dev/sda1 rw\n");
        let stat: StatFn = Arc::new(|_: &Path| Err(io::Error::from_raw_os_error(libc::EACCES)));
        let fs = Filesystem::new(
            &paths,
            Pattern::new(DEFAULT_MOUNT_POINTS_EXCLUDE).unwrap(),
            Pattern::new(DEFAULT_FS_TYPES_EXCLUDE).unwrap(),
            true,
            Duration::from_secs(5),
            stat,
        );
        let out = scrape(&fs);
        assert!(out.contains("node_filesystem_device_error{device=\"/dev/sda1\",device_error=\"permission denied\",fstype=\"ext4\",mountpoint=\"/gone\"} 1\n"), "{out}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn procfs_mountinfo_is_watched_not_reread() {
        let mut f = std::fs::File::open("/proc/self/mountinfo").unwrap();
        assert!(is_procfs(&f));
        super::super::read_from(&mut f, Path::new("/proc/self/mountinfo")).unwrap();
        assert!(!mounts_changed(&f), "no mount happened");
        let plain = std::fs::File::open(file!()).unwrap();
        assert!(!is_procfs(&plain), "fixture trees are read every time");
    }

    #[test]
    fn falls_back_to_self_mountinfo() {
        let dir = std::env::temp_dir().join(format!("promlet-fs-self-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("proc/self")).unwrap();
        std::fs::write(
            dir.join("proc/self/mountinfo"),
            "1 0 8:1 / / rw - ext4 /dev/self rw\n",
        )
        .unwrap();
        let paths = Paths {
            procfs: dir.join("proc"),
            sysfs: dir.join("sys"),
            rootfs: "/".into(),
        };
        let fs = Filesystem::new(
            &paths,
            Pattern::new(DEFAULT_MOUNT_POINTS_EXCLUDE).unwrap(),
            Pattern::new(DEFAULT_FS_TYPES_EXCLUDE).unwrap(),
            true,
            Duration::from_secs(5),
            Arc::new(statfs),
        );
        assert_eq!(fs.wanted_cached().unwrap().0[0].device, "/dev/self");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
