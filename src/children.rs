//! The process groups of the children promlet is running (proxy `exec` exporters, HTTP SD
//! generators), so that promlet's stop (SIGTERM, SIGINT) ends them too. Each child runs in a
//! process group of its own, which keeps it out of the terminal's and the service manager's
//! signals: without this list, a child running when promlet stops would be left behind.
//!
//! A runner registers its child right after spawning it ([`Group::new`]) and drops the
//! [`Group`] once it has reaped it. [`stop`] SIGKILLs every registered group and reaps the
//! leaders; a child spawned after [`stop`] began is killed as it registers.
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
pub struct Group(libc::pid_t);

#[cfg(any(feature = "http-sd", feature = "proxy"))]
impl Group {
    /// Registers the group led by `child`, which was spawned with `process_group(0)`.
    pub fn new(child: &std::process::Child) -> Group {
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
    pub fn kill(&self) {
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

fn kill(pgid: libc::pid_t) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals the process group the child leads.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
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
        left.retain(|p| {
            let mut status = 0;
            // SAFETY: waitpid on a pid we spawned; WNOHANG never blocks.
            let r = unsafe { libc::waitpid(*p, &mut status, libc::WNOHANG) };
            r == 0
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

#[cfg(test)]
mod tests {
    #[cfg(any(feature = "http-sd", feature = "proxy"))]
    use super::*;
    #[cfg(any(feature = "http-sd", feature = "proxy"))]
    use std::os::unix::process::CommandExt;

    #[cfg(any(feature = "http-sd", feature = "proxy"))]
    #[test]
    fn a_dropped_group_leaves_the_list() {
        let child = std::process::Command::new("true")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as libc::pid_t;
        let g = Group::new(&child);
        assert!(groups().contains(&pid));
        drop(g);
        assert!(!groups().contains(&pid));
        let mut child = child;
        child.wait().unwrap();
    }
}
