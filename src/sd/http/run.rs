//! Running generator programs: an executable directly (no shell, each parameter one
//! `key=value` argument) or a prometheus-http-sd `*.py` file through python3 and a small
//! runner script. Each run gets its own process group, stdout and stderr are read under one
//! deadline with size caps, and on timeout the whole group (the generator and anything it
//! started) is killed with SIGKILL before the child is reaped, so nothing outlives a run and no
//! zombie is left.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Error;

/// Generator output above this is refused (a runaway generator must not eat the router's RAM).
pub const MAX_OUTPUT: usize = 16 << 20;
/// The tail of stderr kept for the error message.
const STDERR_TAIL: usize = 2048;

/// Loads a prometheus-http-sd generator file and prints what `generate_targets(**params)`
/// (or, for `check`, `test_generate_targets()` when defined) returns, as JSON on stdout.
/// The generator's own prints go to stderr so they cannot corrupt the JSON. Arguments: file,
/// mode (`serve`/`test`), params as a JSON object of strings.
const PY_RUNNER: &str = r#"
import importlib.util, json, os, sys
path, mode, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
out, sys.stdout = sys.stdout, sys.stderr
sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
if mode == "test":
    os.environ["PROMETHEUS_HTTP_SD_IS_TEST"] = "1"
spec = importlib.util.spec_from_file_location("promlet_generator", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
if mode == "test" and hasattr(mod, "test_generate_targets"):
    result = mod.test_generate_targets()
else:
    result = mod.generate_targets(**params)
json.dump(result, out)
out.flush()
"#;

/// How to start one generator.
pub struct Spawn<'a> {
    pub python: &'a str,
    pub timeout: Duration,
    /// `check` mode: Python generators run `test_generate_targets()` when they have it.
    pub test: bool,
}

impl Spawn<'_> {
    /// Runs the Python generator at `path` and returns its stdout.
    pub fn python(&self, path: &Path, params: &[(String, String)]) -> Result<Vec<u8>, Error> {
        let obj: serde_json::Map<String, serde_json::Value> = params
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let mut cmd = Command::new(self.python);
        // -B: no __pycache__ written into the target tree.
        cmd.arg("-B")
            .arg("-c")
            .arg(PY_RUNNER)
            .arg(path)
            .arg(if self.test { "test" } else { "serve" })
            .arg(serde_json::Value::Object(obj).to_string());
        if let Some(dir) = path.parent() {
            cmd.current_dir(dir);
        }
        run(cmd, self.timeout, self.python)
    }

    /// Runs the executable at `path` with one `key=value` argument per parameter.
    pub fn exec(&self, path: &Path, params: &[(String, String)]) -> Result<Vec<u8>, Error> {
        let mut cmd = Command::new(path);
        cmd.args(params.iter().map(|(k, v)| format!("{k}={v}")));
        if let Some(dir) = path.parent() {
            cmd.current_dir(dir);
        }
        run(cmd, self.timeout, &path.display().to_string())
    }
}

/// Runs `cmd` in its own process group; stdout on exit status 0, else an error with the
/// stderr tail.
pub fn run(mut cmd: Command, timeout: Duration, what: &str) -> Result<Vec<u8>, Error> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Spawn(format!("{what}: {e}")))?;
    // Registered until reaped, so that promlet's stop ends it too. Killed only before it is
    // reaped, so the group id cannot have been reused.
    let group = crate::children::Group::new(&child);
    let kill_group = || group.kill();
    let deadline = Instant::now() + timeout;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let read = match (child.stdout.take(), child.stderr.take()) {
        (Some(o), Some(e)) => read_both(o, e, &mut out, &mut err, deadline),
        _ => Err(Error::Spawn(format!("{what}: no pipes"))),
    };
    if let Err(e) = read {
        kill_group();
        let _ = child.wait();
        return Err(match e {
            Error::Timeout(_) => Error::Timeout(timeout),
            e => e,
        });
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                kill_group();
                let _ = child.wait();
                return Err(Error::Timeout(timeout));
            }
            Err(e) => {
                kill_group();
                let _ = child.wait();
                return Err(Error::Spawn(format!("{what}: wait: {e}")));
            }
        }
    };
    if !status.success() {
        return Err(Error::Exit(status.to_string(), stderr_tail(&err)));
    }
    Ok(out)
}

/// The last line(s) of stderr, trimmed: where a traceback says what went wrong.
fn stderr_tail(err: &[u8]) -> String {
    let s = String::from_utf8_lossy(err);
    let s = s.trim();
    let start = s.len().saturating_sub(512);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    s[start..].to_string()
}

/// Reads both pipes to EOF before `deadline`. stdout is capped at [`MAX_OUTPUT`]; of stderr
/// only the tail is kept.
fn read_both(
    mut o: impl Read + AsRawFd,
    mut e: impl Read + AsRawFd,
    out: &mut Vec<u8>,
    err: &mut Vec<u8>,
    deadline: Instant,
) -> Result<(), Error> {
    let (mut o_open, mut e_open) = (true, true);
    let mut buf = vec![0u8; 16 * 1024];
    while o_open || e_open {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout(Duration::ZERO));
        }
        let mut fds = [
            libc::pollfd {
                fd: if o_open { o.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if e_open { e.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = left.as_millis().clamp(1, 60_000) as libc::c_int;
        // SAFETY: fds is a valid array of two initialised pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        if n < 0 {
            let errno = std::io::Error::last_os_error();
            if errno.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::Read(errno.to_string()));
        }
        // poll reported readiness, so each read below returns without blocking.
        if o_open && fds[0].revents != 0 {
            match o.read(&mut buf) {
                Ok(0) | Err(_) => o_open = false,
                Ok(n) => {
                    if out.len() + n > MAX_OUTPUT {
                        return Err(Error::TooLarge(MAX_OUTPUT));
                    }
                    out.extend_from_slice(&buf[..n]);
                }
            }
        }
        if e_open && fds[1].revents != 0 {
            match e.read(&mut buf) {
                Ok(0) | Err(_) => e_open = false,
                Ok(n) => {
                    err.extend_from_slice(&buf[..n]);
                    if err.len() > 2 * STDERR_TAIL {
                        err.drain(..err.len() - STDERR_TAIL);
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_stdout_and_exit_status() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo '[]'; echo oops >&2"]);
        assert_eq!(run(c, Duration::from_secs(20), "sh").unwrap(), b"[]\n");
        let mut c = Command::new("sh");
        c.args(["-c", "echo 'bad thing' >&2; exit 3"]);
        match run(c, Duration::from_secs(20), "sh") {
            Err(Error::Exit(st, tail)) => {
                assert!(st.contains('3'), "{st}");
                assert_eq!(tail, "bad thing");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn timeout_kills_the_group() {
        let mut c = Command::new("sh");
        c.args(["-c", "sleep 30 & sleep 30"]);
        let t = Instant::now();
        assert!(matches!(
            run(c, Duration::from_millis(300), "sh"),
            Err(Error::Timeout(_))
        ));
        // The grandchild held stdout open: returning at all means it was killed too.
        assert!(t.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn missing_program_is_an_error() {
        let c = Command::new("/nonexistent/generator");
        assert!(matches!(
            run(c, Duration::from_secs(1), "x"),
            Err(Error::Spawn(_))
        ));
    }
}
