//! Running `exec` exporters: a command (argument vector, no shell) whose stdout is an
//! exposition. Each child runs in its own process group so a timeout kills the script and
//! everything it started, and every child is waited for, so no zombies accumulate (the
//! exec-cached mode of reverse_exporter never reaps its children).
//!
//! Two modes: [`Shared`] runs the command on demand and lets concurrent scrapes join the run
//! in flight (one child for any number of simultaneous scrapes); [`Cached`] runs it every
//! `interval` in a background thread and serves the last good output.

use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::children::{self, Limits, RunError};

/// Largest stdout accepted from a command: the same cap as an upstream's body
/// ([`crate::httpc::MAX_BODY`]), since an exec exporter stands in for one.
const MAX_OUTPUT: usize = crate::httpc::MAX_BODY;

/// stdout up to [`MAX_OUTPUT`]; of stderr the last 64 KiB (it is only logged, rate-limited).
const LIMITS: Limits = Limits {
    stdout: MAX_OUTPUT,
    stderr: 64 << 10,
};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `argv` until it exits or `until` passes, with [`children::run`]'s contract (own
/// process group, killed with everything it started, reaped); returns its stdout if it exited
/// 0. stderr is logged, line by line, under the exporter's `name`.
pub fn run(name: &str, argv: &[String], until: Instant) -> Result<Vec<u8>, String> {
    let (prog, args) = argv.split_first().ok_or("empty command")?;
    let mut cmd = Command::new(prog);
    cmd.args(args);
    let left = until.saturating_duration_since(Instant::now());
    match children::run(cmd, &format!("exporter {name}"), until, LIMITS) {
        Ok(o) if o.status.success() => Ok(o.stdout),
        Ok(o) => Err(format!("exited with {}", o.status)),
        Err(RunError::Spawn(e)) => Err(format!("start {prog:?}: {e}")),
        Err(RunError::Timeout { read_all: false }) => {
            Err(format!("timeout after {:.1}s (killed)", left.as_secs_f64()))
        }
        Err(RunError::Timeout { read_all: true }) => {
            Err("did not exit before the timeout (killed)".into())
        }
        Err(RunError::TooLarge(n)) => Err(format!("output larger than {n} bytes")),
        Err(RunError::Read(e)) => Err(format!("read stdout: {e}")),
        Err(RunError::Wait(e)) => Err(format!("wait: {e}")),
    }
}

/// A run in flight (or finished) that scrapes wait on.
struct Run {
    result: Mutex<Option<Result<Arc<Vec<u8>>, String>>>,
    done: Condvar,
}

/// On-demand exec with coalescing: scrapes that arrive while a run is in flight get its
/// result; the first scrape after it finished starts a new run.
pub struct Shared {
    name: String,
    argv: Vec<String>,
    timeout: Duration,
    current: Mutex<Option<Arc<Run>>>,
}

impl Shared {
    pub fn new(name: &str, argv: Vec<String>, timeout: Duration) -> Shared {
        Shared {
            name: name.into(),
            argv,
            timeout,
            current: Mutex::new(None),
        }
    }

    /// The output of a run that started no earlier than this call (or joined in flight).
    pub fn get(self: &Arc<Self>, until: Instant) -> Result<Arc<Vec<u8>>, String> {
        let run = {
            let mut cur = lock(&self.current);
            match &*cur {
                Some(r) => r.clone(),
                None => {
                    let r = Arc::new(Run {
                        result: Mutex::new(None),
                        done: Condvar::new(),
                    });
                    *cur = Some(r.clone());
                    let me = self.clone();
                    let slot = r.clone();
                    // The run is bounded by the exporter timeout and by the deadline of the
                    // scrape that started it, so that scrape never waits for a child.
                    let run_until = until.min(Instant::now() + self.timeout);
                    let started = std::thread::Builder::new()
                        .name("exec".into())
                        .stack_size(128 * 1024)
                        .spawn(move || {
                            let res = run(&me.name, &me.argv, run_until).map(Arc::new);
                            // Unpublish before waking waiters: later scrapes start afresh.
                            *lock(&me.current) = None;
                            *lock(&slot.result) = Some(res);
                            slot.done.notify_all();
                        });
                    if started.is_err() {
                        *cur = None;
                        return Err("cannot start a thread".into());
                    }
                    r
                }
            }
        };
        let mut res = lock(&run.result);
        loop {
            if let Some(r) = &*res {
                return r.clone();
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("timeout waiting for the command".into());
            }
            res = run
                .done
                .wait_timeout(res, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Background exec every `interval`; the last good output and when it was produced.
pub struct Cached {
    last: Mutex<Option<(Arc<Vec<u8>>, Instant)>>,
    pub runs: crate::atomic64::AtomicU64,
    pub failures: crate::atomic64::AtomicU64,
}

impl Cached {
    /// Starts the background loop. `check` validates an output (parses it) before it
    /// replaces the last good one.
    pub fn start(
        name: &str,
        argv: Vec<String>,
        interval: Duration,
        timeout: Duration,
        check: fn(&[u8]) -> Result<(), String>,
    ) -> Result<Arc<Cached>, String> {
        let c = Arc::new(Cached {
            last: Mutex::new(None),
            runs: Default::default(),
            failures: Default::default(),
        });
        let me = c.clone();
        let name = name.to_string();
        // A run may not outlast the interval: the next one would pile up behind it.
        let timeout = timeout.min(interval);
        std::thread::Builder::new()
            .name("exec-cached".into())
            .stack_size(128 * 1024)
            .spawn(move || loop {
                // The proxy that owned it was replaced (SIGHUP): stop with it.
                if Arc::strong_count(&me) == 1 {
                    break;
                }
                let start = Instant::now();
                let res = run(&name, &argv, start + timeout).and_then(|out| {
                    check(&out)?;
                    Ok(out)
                });
                me.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match res {
                    Ok(out) => *lock(&me.last) = Some((Arc::new(out), Instant::now())),
                    Err(e) => {
                        me.failures
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        crate::warn!(
                            "exporter {name}: run failed, keeping the last good output: {e}"
                        );
                    }
                }
                let next = start + interval;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            })
            .map_err(|e| format!("start exec thread: {e}"))?;
        Ok(c)
    }

    /// The last good output and its age, or an error before the first good run.
    pub fn get(&self) -> Result<(Arc<Vec<u8>>, Duration), String> {
        match &*lock(&self.last) {
            Some((out, at)) => Ok((out.clone(), at.elapsed())),
            None => Err("no successful run yet".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn runs_and_reports_failures() {
        let far = Instant::now() + Duration::from_secs(20);
        assert_eq!(run("t", &sh("echo a 1"), far).unwrap(), b"a 1\n");
        assert!(run("t", &sh("echo a 1; exit 3"), far)
            .unwrap_err()
            .contains("exit"));
        assert!(run("t", &["/nonexistent/x".to_string()], far)
            .unwrap_err()
            .contains("start"));
    }

    #[test]
    fn kills_a_hung_command_and_its_children() {
        let t = Instant::now();
        let e = run(
            "t",
            &sh("sleep 30 & sleep 30"),
            t + Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(e.contains("timeout"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn concurrent_gets_share_one_run() {
        let dir = std::env::temp_dir().join(format!("promlet-exec-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let count = dir.join("count");
        let _ = std::fs::remove_file(&count);
        let s = Arc::new(Shared::new(
            "t",
            sh(&format!(
                "echo x >> {}; sleep 0.5; echo a 1",
                count.display()
            )),
            Duration::from_secs(10),
        ));
        let until = Instant::now() + Duration::from_secs(20);
        let hs: Vec<_> = (0..10)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || s.get(until).unwrap())
            })
            .collect();
        for h in hs {
            assert_eq!(*h.join().unwrap(), b"a 1\n");
        }
        let runs = std::fs::read_to_string(&count).unwrap().lines().count();
        assert_eq!(runs, 1);
        s.get(until).unwrap();
        assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 2);
    }
}
