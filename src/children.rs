//! Running child processes (proxy `exec` exporters, HTTP SD generators) and ending them.
//!
//! [`run`] is the one child runner, with one contract for every caller: the child gets its own
//! process group (out of the terminal's and the service manager's signals) and no stdin; stdout
//! and stderr are read in the calling thread under one deadline, stdout up to the caller's cap,
//! stderr's last bytes kept; when the run ends, however it ends, the whole group (the child and
//! anything it started) is SIGKILLed while the child is not yet reaped, so the group id is still
//! its own, and then the child is reaped: nothing outlives a run and no zombie is left. What the
//! child wrote to stderr is logged under its name, at most [`STDERR_LINES`] a minute per name.
//!
//! The process groups of running children are registered, so that promlet's stop (SIGTERM,
//! SIGINT) ends them too: [`stop`] SIGKILLs every registered group and reaps the leaders; a
//! child spawned after [`stop`] began is killed as it registers.
//!
//! The stop signals (and SIGHUP, reload) are caught with a handler that writes to a pipe
//! ([`catch_signals`]) rather than blocked with a signal mask and waited for: one mechanism
//! for every signal promlet acts on, and a handler is reset to the default by `exec`, so
//! children start with the usual dispositions.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static GROUPS: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());
static STOPPING: AtomicBool = AtomicBool::new(false);

fn groups() -> std::sync::MutexGuard<'static, Vec<libc::pid_t>> {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(any(feature = "http-sd", feature = "proxy"))]
/// A running child's process group (its pid: the child leads the group), registered for
/// [`stop`] while this value lives.
struct Group(libc::pid_t);

#[cfg(any(feature = "http-sd", feature = "proxy"))]
impl Group {
    /// Registers the group led by `child`, which was spawned with `process_group(0)`.
    fn new(child: &std::process::Child) -> Group {
        let pid = child.id() as libc::pid_t;
        let mut g = groups();
        g.push(pid);
        // Under the lock: either stop sees this group, or it has already set the flag.
        if STOPPING.load(Ordering::SeqCst) {
            kill(pid);
        }
        Group(pid)
    }

    /// SIGKILLs the whole group: the child and everything it started. Call it before the
    /// child is reaped, while the group id is surely still this child's.
    fn kill(&self) {
        kill(self.0);
    }
}

#[cfg(any(feature = "http-sd", feature = "proxy"))]
impl Drop for Group {
    fn drop(&mut self) {
        let mut g = groups();
        if let Some(i) = g.iter().position(|p| *p == self.0) {
            g.swap_remove(i);
        }
    }
}

/// SIGKILLs the process group `pgid` (a child's pid: it leads its group).
fn kill(pgid: libc::pid_t) {
    if let Some(p) = rustix::process::Pid::from_raw(pgid).filter(|_| pgid > 0) {
        let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
    }
}

#[cfg(any(feature = "http-sd", feature = "proxy"))]
pub use runner::{run, Limits, RunError};

#[cfg(any(feature = "http-sd", feature = "proxy"))]
mod runner {
    use std::io::{self, Read};
    use std::os::fd::{AsFd, BorrowedFd};
    use std::os::unix::process::CommandExt;
    use std::process::{ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
    use std::time::{Duration, Instant};

    use super::Group;

    /// What a run keeps of a child's output. Each caller names its own caps (and says why).
    #[derive(Clone, Copy, Debug)]
    pub struct Limits {
        /// Largest stdout accepted: more fails the run, and the group is killed at once (a
        /// runaway child must not eat a router's memory).
        pub stdout: usize,
        /// Bytes of stderr kept: the last ones, where a traceback or a shell says what went
        /// wrong. The rest is read and dropped, so the child never blocks on a full pipe.
        pub stderr: usize,
    }

    /// A run that ended with the child's exit (any status).
    #[derive(Debug)]
    pub struct Output {
        pub status: ExitStatus,
        pub stdout: Vec<u8>,
        /// The last [`Limits::stderr`] bytes of stderr (also logged). HTTP SD quotes it in
        /// its error; the proxy only logs it. The runner keeps it for any caller, so it is not
        /// gated on one.
        #[cfg_attr(not(feature = "http-sd"), allow(dead_code))]
        pub stderr: Vec<u8>,
    }

    /// Why a run gave no [`Output`]. In every case the group was killed and the child reaped.
    #[derive(Debug)]
    pub enum RunError {
        /// The program could not be started.
        Spawn(io::Error),
        /// The deadline passed. `read_all`: stdout had been read to its end, but the child
        /// did not exit in time (the proxy says which; HTTP SD does not, so the field is not
        /// read in a build without the proxy).
        Timeout {
            #[cfg_attr(not(feature = "proxy"), allow(dead_code))]
            read_all: bool,
        },
        /// stdout was longer than this many bytes.
        TooLarge(usize),
        Read(io::Error),
        Wait(io::Error),
    }

    /// After the group is killed, how long its pipes get to close (a process that left the
    /// group, with `setsid`, may hold stderr open for ever).
    const DRAIN: Duration = Duration::from_millis(100);
    /// How often a child that closed its stdout is looked at until it exits.
    const EXIT_POLL: Duration = Duration::from_millis(2);

    /// Runs `cmd` (its arguments, directory and environment set by the caller) until it exits
    /// or `until` passes; `name` is how its stderr is logged (`exporter x`, `generator y`).
    pub fn run(
        mut cmd: Command,
        name: &str,
        until: Instant,
        limits: Limits,
    ) -> Result<Output, RunError> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(RunError::Spawn)?;
        // Registered until reaped, so that promlet's stop ends it too.
        let group = Group::new(&child);
        let pid = child.id();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (mut o, mut e) = (child.stdout.take(), child.stderr.take());
        let ended = match (&mut o, &mut e) {
            (Some(o), Some(e)) => read_until_exit(pid, o, e, &mut out, &mut err, until, limits),
            _ => Err(RunError::Read(io::Error::other("no pipes"))),
        };
        drop(o);
        // However the run ended: the child, if still running, and whatever it left behind
        // end here, before the child is reaped (so the group id cannot have been reused).
        group.kill();
        if let Some(e) = &mut e {
            let _ = drain(e, &mut err, Instant::now() + DRAIN, limits.stderr);
        }
        drop(e);
        let status = child.wait();
        drop(group);
        super::log_stderr(name, &err);
        ended?;
        Ok(Output {
            status: status.map_err(RunError::Wait)?,
            stdout: out,
            stderr: err,
        })
    }

    /// Reads stdout to its end and stderr, until the child has exited (not reaped) with its
    /// stdout closed. stderr may still be held open by something the child started: that is
    /// not waited for (the group is killed next).
    fn read_until_exit(
        pid: u32,
        o: &mut ChildStdout,
        e: &mut ChildStderr,
        out: &mut Vec<u8>,
        err: &mut Vec<u8>,
        until: Instant,
        limits: Limits,
    ) -> Result<(), RunError> {
        let (mut o_open, mut e_open) = (true, true);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if !o_open && exited(pid).map_err(RunError::Wait)? {
                return Ok(());
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RunError::Timeout { read_all: !o_open });
            }
            // With stdout closed, only the exit is awaited: look again soon.
            let wait = if o_open { left } else { left.min(EXIT_POLL) };
            if !o_open && !e_open {
                std::thread::sleep(wait);
                continue;
            }
            let [ro, re] = poll2(o_open.then(|| o.as_fd()), e_open.then(|| e.as_fd()), wait)
                .map_err(RunError::Read)?;
            // poll reported readiness, so each read below returns without blocking.
            if ro {
                match o.read(&mut buf) {
                    Ok(0) | Err(_) => o_open = false,
                    Ok(n) => {
                        if out.len().saturating_add(n) > limits.stdout {
                            return Err(RunError::TooLarge(limits.stdout));
                        }
                        out.extend_from_slice(&buf[..n]);
                    }
                }
            }
            if re && !read_tail(e, &mut buf, err, limits.stderr) {
                e_open = false;
            }
        }
    }

    /// Reads what `e` has into the kept tail; false at its end.
    fn read_tail(e: &mut impl Read, buf: &mut [u8], err: &mut Vec<u8>, keep: usize) -> bool {
        match e.read(buf) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                err.extend_from_slice(&buf[..n]);
                // Trimmed in steps, not on every read.
                if err.len() > keep.saturating_mul(2).max(buf.len()) {
                    err.drain(..err.len() - keep);
                }
                true
            }
        }
    }

    /// Reads stderr to its end or `until`, then cuts it to the last `keep` bytes.
    fn drain(
        e: &mut ChildStderr,
        err: &mut Vec<u8>,
        until: Instant,
        keep: usize,
    ) -> io::Result<()> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let [_, ready] = poll2(None, Some(e.as_fd()), left)?;
            if ready && !read_tail(e, &mut buf, err, keep) {
                break;
            }
        }
        if err.len() > keep {
            err.drain(..err.len() - keep);
        }
        Ok(())
    }

    /// Waits up to `wait` (at most a minute) for either descriptor to be readable or closed.
    fn poll2(
        a: Option<BorrowedFd<'_>>,
        b: Option<BorrowedFd<'_>>,
        wait: Duration,
    ) -> io::Result<[bool; 2]> {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let mut fds: Vec<PollFd<'_>> = [a, b]
            .into_iter()
            .flatten()
            .map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN))
            .collect();
        let wait = wait.clamp(Duration::from_millis(1), Duration::from_secs(60));
        let timeout = Timespec::try_from(wait).map_err(io::Error::other)?;
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok([false, false]),
            Err(e) => return Err(e.into()),
        }
        let mut ready = fds.iter().map(|f| !f.revents().is_empty());
        let ra = a.is_some() && ready.next().unwrap_or(false);
        let rb = b.is_some() && ready.next().unwrap_or(false);
        Ok([ra, rb])
    }

    /// True once the child has exited; it is left unreaped (`WNOWAIT`), so that its group can
    /// still be killed safely.
    fn exited(pid: u32) -> io::Result<bool> {
        use rustix::process::{waitid, Pid, WaitId, WaitIdOptions};
        let pid = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::other("no such pid"))?;
        let opts = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        Ok(waitid(WaitId::Pid(pid), opts)?.is_some())
    }
}

/// Lines of one child's stderr logged per [`STDERR_WINDOW`]; the rest are counted and the
/// count is logged when the next window opens (a chatty generator run every second must not
/// flush everything else out of a router's log buffer).
#[cfg(any(feature = "http-sd", feature = "proxy"))]
pub const STDERR_LINES: u32 = 20;
#[cfg(any(feature = "http-sd", feature = "proxy"))]
pub const STDERR_WINDOW: Duration = Duration::from_secs(60);

/// Per child name: (window start, lines logged in it, lines not logged).
#[cfg(any(feature = "http-sd", feature = "proxy"))]
#[derive(Default)]
struct StderrWindows(Vec<(String, Instant, u32, u64)>);

#[cfg(any(feature = "http-sd", feature = "proxy"))]
impl StderrWindows {
    /// Most names remembered (generators are named by path); past that the oldest window is
    /// forgotten rather than the list grown.
    const MAX_NAMES: usize = 1024;

    /// `lines` new lines from `name` at `now`: how many of them to log, and how many were not
    /// logged in the window that has just closed.
    fn admit(&mut self, name: &str, lines: usize, now: Instant) -> (usize, u64) {
        let i = match self.0.iter().position(|e| e.0 == name) {
            Some(i) => i,
            None => {
                if self.0.len() >= Self::MAX_NAMES {
                    if let Some(old) = (0..self.0.len()).min_by_key(|&j| self.0[j].1) {
                        self.0.swap_remove(old);
                    }
                }
                self.0.push((name.to_string(), now, 0, 0));
                self.0.len() - 1
            }
        };
        let e = &mut self.0[i];
        let mut reopened = 0;
        if now.duration_since(e.1) >= STDERR_WINDOW {
            reopened = e.3;
            (e.1, e.2, e.3) = (now, 0, 0);
        }
        let lines = u32::try_from(lines).unwrap_or(u32::MAX);
        let allowed = STDERR_LINES.saturating_sub(e.2).min(lines);
        e.2 += allowed;
        e.3 = e.3.saturating_add(u64::from(lines - allowed));
        (allowed as usize, reopened)
    }
}

#[cfg(any(feature = "http-sd", feature = "proxy"))]
static STDERR: Mutex<StderrWindows> = Mutex::new(StderrWindows(Vec::new()));

/// Logs what the child `name` wrote to stderr, line by line at warn level under its name.
#[cfg(any(feature = "http-sd", feature = "proxy"))]
fn log_stderr(name: &str, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return;
    }
    let (allowed, reopened) =
        STDERR
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(name, lines.len(), Instant::now());
    if reopened > 0 {
        crate::warn!(
            "{name}: {reopened} stderr lines were not logged (more than {STDERR_LINES} a minute)"
        );
    }
    for line in lines.iter().take(allowed) {
        crate::warn!("{name}: stderr: {line}");
    }
}

/// Kills every registered group and reaps its leader (waiting at most `wait` for all of them;
/// a runner thread may reap one first, which is as good). Returns how many groups there were.
pub fn stop(wait: Duration) -> usize {
    let pids: Vec<libc::pid_t> = {
        let g = groups();
        STOPPING.store(true, Ordering::SeqCst);
        for p in g.iter() {
            kill(*p);
        }
        g.clone()
    };
    let until = Instant::now() + wait;
    let mut left = pids.clone();
    while !left.is_empty() && Instant::now() < until {
        // Still running: waitpid with WNOHANG reaps nothing and says so. Reaped, or reaped
        // by its runner already (an error): done.
        left.retain(|p| {
            let pid = rustix::process::Pid::from_raw(*p);
            matches!(
                rustix::process::waitpid(pid, rustix::process::WaitOptions::NOHANG),
                Ok(None)
            )
        });
        if !left.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    pids.len()
}

/// The write end of the stop pipe, for the signal handler.
static STOP_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_stop_signal(sig: libc::c_int) {
    // Only async-signal-safe calls here: write(2), with errno kept for the interrupted code.
    // SAFETY: __errno_location is the calling thread's errno; write gets a valid 1-byte buffer.
    unsafe {
        let errno = *libc::__errno_location();
        let b = sig as u8;
        libc::write(
            STOP_PIPE.load(Ordering::Relaxed),
            (&b as *const u8).cast(),
            1,
        );
        *libc::__errno_location() = errno;
    }
}

/// Where [`catch_signals`] delivers the signals.
pub struct Signals(libc::c_int);

/// Catches SIGTERM, SIGINT (stop) and SIGHUP (reload) from now on; [`Signals::wait`] returns
/// them one at a time.
pub fn catch_signals() -> Result<Signals, String> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two-element array; sigaction gets a zeroed, filled-in struct.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(format!("pipe: {}", std::io::Error::last_os_error()));
        }
        STOP_PIPE.store(fds[1], Ordering::Relaxed);
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(format!("sigaction: {}", std::io::Error::last_os_error()));
            }
        }
    }
    Ok(Signals(fds[0]))
}

impl Signals {
    /// Blocks until one of the signals arrives; returns its number.
    pub fn wait(&self) -> libc::c_int {
        loop {
            let mut b = 0u8;
            // SAFETY: read into a valid 1-byte buffer from the pipe we own.
            let n = unsafe { libc::read(self.0, (&mut b as *mut u8).cast(), 1) };
            if n == 1 {
                return libc::c_int::from(b);
            }
            if n == 0 {
                // Cannot happen (we hold the write end); do not spin.
                std::thread::park();
            }
        }
    }
}

#[cfg(all(test, any(feature = "http-sd", feature = "proxy")))]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    const LIMITS: Limits = Limits {
        stdout: 1 << 20,
        stderr: 4096,
    };

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script]);
        c
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(20)
    }

    fn tempdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("promlet-children-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// The pids listed in `file` are gone (or zombies of whoever inherited them), waiting up to
    /// 10 s for the kernel and init to get there.
    fn all_gone(file: &Path) -> bool {
        let listed = std::fs::read_to_string(file).unwrap();
        assert!(!listed.trim().is_empty());
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let gone = listed.lines().all(|pid| {
                match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
                    Ok(s) => s.contains(") Z "),
                    Err(_) => true,
                }
            });
            if gone || Instant::now() > until {
                return gone;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_dropped_group_leaves_the_list() {
        let child = Command::new("true").process_group(0).spawn().unwrap();
        let pid = child.id() as libc::pid_t;
        let g = Group::new(&child);
        assert!(groups().contains(&pid));
        drop(g);
        assert!(!groups().contains(&pid));
        let mut child = child;
        child.wait().unwrap();
    }

    #[test]
    fn stdout_and_status_of_a_run() {
        let o = run(sh("echo out; echo err >&2; exit 3"), "t", far(), LIMITS).unwrap();
        assert_eq!(o.stdout, b"out\n");
        assert_eq!(o.stderr, b"err\n");
        assert_eq!(o.status.code(), Some(3));
        let e = run(Command::new("/nonexistent/x"), "t", far(), LIMITS).unwrap_err();
        assert!(matches!(e, RunError::Spawn(_)), "{e:?}");
    }

    #[test]
    fn the_deadline_kills_the_whole_group() {
        let dir = tempdir("deadline");
        let pids = dir.join("pids");
        let script = format!(
            "sleep 30 & echo $! >> {p}; echo $$ >> {p}; sleep 30",
            p = pids.display()
        );
        let until = Instant::now() + Duration::from_millis(300);
        let e = run(sh(&script), "t", until, LIMITS).unwrap_err();
        assert!(matches!(e, RunError::Timeout { read_all: false }), "{e:?}");
        // The grandchild held stdout open: run returned, and it is gone with its parent.
        assert!(
            all_gone(&pids),
            "{}",
            std::fs::read_to_string(&pids).unwrap()
        );
    }

    #[test]
    fn a_child_that_closed_stdout_but_runs_on_is_killed_at_the_deadline() {
        let until = Instant::now() + Duration::from_millis(300);
        let e = run(sh("echo a; exec >&-; sleep 30"), "t", until, LIMITS).unwrap_err();
        assert!(matches!(e, RunError::Timeout { read_all: true }), "{e:?}");
    }

    #[test]
    fn what_a_child_left_behind_ends_with_the_run() {
        let dir = tempdir("left");
        let pids = dir.join("pids");
        // The background sleep holds stderr open: the run ends when the child exits, not when
        // stderr closes, and the sleep is killed with the group.
        let script = format!(
            "sleep 30 >/dev/null & echo $! >> {p}; echo done",
            p = pids.display()
        );
        let o = run(sh(&script), "t", far(), LIMITS).unwrap();
        assert_eq!(o.stdout, b"done\n");
        assert!(o.status.success());
        assert!(all_gone(&pids));
    }

    #[test]
    fn stdout_is_capped() {
        let cap = Limits {
            stdout: 1000,
            ..LIMITS
        };
        let o = run(sh("head -c 1000 /dev/zero"), "t", far(), cap).unwrap();
        assert_eq!(o.stdout.len(), 1000);
        let e = run(sh("head -c 1001 /dev/zero"), "t", far(), cap).unwrap_err();
        assert!(matches!(e, RunError::TooLarge(1000)), "{e:?}");
        // An endless writer is stopped at the cap, not at the deadline.
        let e = run(Command::new("yes"), "t", far(), cap).unwrap_err();
        assert!(matches!(e, RunError::TooLarge(1000)), "{e:?}");
    }

    #[test]
    fn the_end_of_stderr_is_kept() {
        let keep = Limits {
            stderr: 100,
            ..LIMITS
        };
        let o = run(
            sh("head -c 100000 /dev/zero | tr '\\0' x >&2; echo END >&2"),
            "t",
            far(),
            keep,
        )
        .unwrap();
        assert_eq!(o.stderr.len(), 100);
        assert!(o.stderr.ends_with(b"xxxEND\n"), "{:?}", o.stderr);
    }

    #[test]
    fn stderr_lines_are_limited_per_name_and_window() {
        let mut w = StderrWindows::default();
        let t = Instant::now();
        assert_eq!(w.admit("a", 25, t), (20, 0));
        assert_eq!(w.admit("a", 5, t), (0, 0));
        assert_eq!(w.admit("b", 3, t), (3, 0), "names are independent");
        // The next window opens: its lines are logged, and the count of the last one's.
        assert_eq!(w.admit("a", 3, t + STDERR_WINDOW), (3, 10));
        assert_eq!(w.admit("a", 18, t + STDERR_WINDOW), (17, 0));
    }
}
