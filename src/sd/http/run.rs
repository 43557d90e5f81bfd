//! Running generator programs: an executable directly (no shell, each parameter one
//! `key=value` argument) or a prometheus-http-sd `*.py` file through python3 and a small
//! runner script. The run itself is promlet's one child runner ([`children::run`]): its own
//! process group, one deadline, and the whole group (the generator and anything it started)
//! killed before the child is reaped, so nothing outlives a run and no zombie is left.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::Error;
use crate::children::{self, Limits, RunError};

/// Generator output above this is refused: target lists are small, and a runaway generator
/// must not eat the router's RAM (the same cap as a target file read from disk).
pub const MAX_OUTPUT: usize = 16 << 20;

/// stdout up to [`MAX_OUTPUT`]; of stderr the last 4 KiB, enough for a Python traceback's end
/// (the error message quotes its last 512 bytes, the log its lines).
const LIMITS: Limits = Limits {
    stdout: MAX_OUTPUT,
    stderr: 4 << 10,
};

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
    /// The tree's root: on every child's `PYTHONPATH`, so `from _lib import helpers` works
    /// from any depth, as in prometheus-http-sd (which runs with the root on `sys.path`).
    pub root: &'a Path,
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
        self.python_path(&mut cmd);
        run(
            cmd,
            self.timeout,
            &format!("{} {}", self.python, path.display()),
        )
    }

    /// Runs the executable at `path` with one `key=value` argument per parameter.
    pub fn exec(&self, path: &Path, params: &[(String, String)]) -> Result<Vec<u8>, Error> {
        let mut cmd = Command::new(path);
        cmd.args(params.iter().map(|(k, v)| format!("{k}={v}")));
        if let Some(dir) = path.parent() {
            cmd.current_dir(dir);
        }
        self.python_path(&mut cmd);
        run(cmd, self.timeout, &path.display().to_string())
    }

    /// The root first, then whatever PYTHONPATH promlet itself was given.
    fn python_path(&self, cmd: &mut Command) {
        let mut p = self.root.as_os_str().to_os_string();
        if let Some(old) = std::env::var_os("PYTHONPATH").filter(|o| !o.is_empty()) {
            p.push(":");
            p.push(old);
        }
        cmd.env("PYTHONPATH", p);
    }
}

/// Runs `cmd` with [`children::run`]'s contract (own process group, deadline, the group killed
/// and the child reaped, stderr logged as `generator WHAT`): stdout on exit status 0, else an
/// error with the stderr tail.
pub fn run(cmd: Command, timeout: Duration, what: &str) -> Result<Vec<u8>, Error> {
    let until = Instant::now() + timeout;
    match children::run(cmd, &format!("generator {what}"), until, LIMITS) {
        Ok(o) if o.status.success() => Ok(o.stdout),
        Ok(o) => Err(Error::Exit(o.status.to_string(), stderr_tail(&o.stderr))),
        Err(RunError::Spawn(e)) => Err(Error::Spawn(format!("{what}: {e}"))),
        Err(RunError::Timeout { .. }) => Err(Error::Timeout(timeout)),
        Err(RunError::TooLarge(n)) => Err(Error::TooLarge(n)),
        Err(RunError::Read(e)) => Err(Error::Read(e.to_string())),
        Err(RunError::Wait(e)) => Err(Error::Spawn(format!("{what}: wait: {e}"))),
    }
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
