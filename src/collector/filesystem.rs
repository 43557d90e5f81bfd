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
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regex_lite::Regex;

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
    let re = |name: &str| -> Result<Regex, String> {
        let s = flags.value(name).unwrap_or_default();
        Regex::new(&s).map_err(|e| format!("--{name}: bad regexp {s:?}: {e}"))
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

/// statfs(2) on `path`.
pub fn statfs(path: &Path) -> io::Result<FsStat> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: statfs fills the struct we own, from a NUL-terminated path.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut s) } != 0 {
        return Err(io::Error::last_os_error());
    }
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

struct Job {
    path: PathBuf,
    reply: SyncSender<io::Result<FsStat>>,
}

/// A statfs worker thread with a deadline per call.
struct Worker {
    stat: StatFn,
    stuck: Arc<Mutex<HashSet<PathBuf>>>,
    tx: Mutex<Option<Sender<Job>>>,
    timeout: Duration,
}

enum Outcome {
    Done(io::Result<FsStat>),
    Stuck,
}

impl Worker {
    fn spawn(&self) -> Option<Sender<Job>> {
        let (tx, rx): (Sender<Job>, Receiver<Job>) = mpsc::channel();
        let stat = self.stat.clone();
        let stuck = self.stuck.clone();
        std::thread::Builder::new()
            .name("statfs".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                for job in rx {
                    let r = stat(&job.path);
                    // Reply first, then unmark: a scrape that timed out between our return
                    // and its insert into `stuck` finds the reply waiting (see `stat`).
                    let _ = job.reply.send(r);
                    // If we were given up on, this mount point is no longer stuck: the next
                    // scrape may try it again.
                    stuck
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&job.path);
                }
            })
            .ok()?;
        Some(tx)
    }

    fn is_stuck(&self, path: &Path) -> bool {
        self.stuck
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(path)
    }

    fn stat(&self, path: &Path) -> Outcome {
        if self.is_stuck(path) {
            return Outcome::Stuck;
        }
        let mut tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        if tx.is_none() {
            *tx = self.spawn();
        }
        let (rtx, rrx) = mpsc::sync_channel(1);
        let job = Job {
            path: path.to_path_buf(),
            reply: rtx,
        };
        let sent = match tx.as_ref() {
            Some(t) => t.send(job).is_ok(),
            None => false,
        };
        if !sent {
            *tx = None;
            return Outcome::Done(Err(io::Error::other("cannot start statfs worker")));
        }
        match rrx.recv_timeout(self.timeout) {
            Ok(r) => Outcome::Done(r),
            Err(RecvTimeoutError::Timeout) => {
                self.stuck
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(path.to_path_buf());
                // Late return between the timeout and the insert: the reply is already there.
                if let Ok(r) = rrx.try_recv() {
                    self.stuck
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(path);
                    return Outcome::Done(r);
                }
                // Abandon the blocked worker; it exits once statfs returns.
                *tx = None;
                crate::warn!(
                    "statfs {} did not return within {:?}; skipping it until it does",
                    path.display(),
                    self.timeout
                );
                Outcome::Stuck
            }
            Err(RecvTimeoutError::Disconnected) => {
                *tx = None;
                Outcome::Done(Err(io::Error::other("statfs worker died")))
            }
        }
    }
}

pub struct Filesystem {
    procfs: PathBuf,
    rootfs: PathBuf,
    mount_points_exclude: Regex,
    fs_types_exclude: Regex,
    keep_root: bool,
    worker: Worker,
}

impl Filesystem {
    pub fn new(
        paths: &Paths,
        mount_points_exclude: Regex,
        fs_types_exclude: Regex,
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
                tx: Mutex::new(None),
                timeout,
            },
        }
    }

    fn mounts(&self) -> Result<Vec<Mount>, Error> {
        let first = self.procfs.join("1/mountinfo");
        let (path, text) = match std::fs::read_to_string(&first) {
            Ok(t) => (first, t),
            Err(_) => {
                let p = self.procfs.join("self/mountinfo");
                let t = super::read(&p)?;
                (p, t)
            }
        };
        parse_mountinfo(&text).map_err(|msg| Error::Parse { path, msg })
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
    let s = e.to_string();
    let s = match s.find(" (os error") {
        Some(i) => &s[..i],
        None => &s[..],
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

impl Collector for Filesystem {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let mounts = self.wanted(self.mounts()?);
        let mut rows = Vec::with_capacity(mounts.len());
        for m in &mounts {
            let path = self.rootfs.join(m.mountpoint.trim_start_matches('/'));
            let r = match self.worker.stat(&path) {
                Outcome::Done(Ok(s)) => Ok(s),
                Outcome::Done(Err(e)) => {
                    crate::warn!("statfs {}: {e}", path.display());
                    Err(error_text(&e))
                }
                Outcome::Stuck => Err("mountpoint timeout".to_string()),
            };
            rows.push(r);
        }
        let labels = |m: &'_ Mount, err: &'_ str| -> [(&'static str, String); 4] {
            [
                ("device", m.device.clone()),
                ("device_error", err.to_string()),
                ("fstype", m.fstype.clone()),
                ("mountpoint", m.mountpoint.clone()),
            ]
        };
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
                    let l = labels(m, "");
                    f.sample(&l.each_ref().map(|(k, v)| (*k, v.as_str())), get(s));
                }
            }
        }
        let mut f = enc.family(
            "node_filesystem_readonly",
            "Filesystem read-only status.",
            MetricType::Gauge,
        );
        for (m, r) in mounts.iter().zip(&rows) {
            let l = labels(m, r.as_ref().err().map_or("", |e| e.as_str()));
            f.sample(
                &l.each_ref().map(|(k, v)| (*k, v.as_str())),
                if m.readonly() { 1.0 } else { 0.0 },
            );
        }
        let mut f = enc.family(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
            MetricType::Gauge,
        );
        for (m, r) in mounts.iter().zip(&rows) {
            let l = labels(m, r.as_ref().err().map_or("", |e| e.as_str()));
            f.sample(
                &l.each_ref().map(|(k, v)| (*k, v.as_str())),
                if r.is_err() { 1.0 } else { 0.0 },
            );
        }
        Ok(())
    }
}
