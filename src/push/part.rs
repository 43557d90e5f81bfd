//! Push mode as one of promlet's parts: enabled when `--config.file` has `remote_write`
//! entries; gathers through the routes the other parts serve. SIGHUP re-reads the file's
//! `global`, `remote_write` and `push` sections ([`Part::reload`]): the push keeps running,
//! so queues survive, rather than being started again.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::expfmt::Encoder;
use crate::flags::{Flags, Spec};
use crate::httpd::{Request, Route};
use crate::part::{Entry, Part};

use super::config::{self, Config};
use super::run::{Gather, Push, Transport};

pub const PART: Entry = Entry {
    name: "push",
    flags: Vec::<Spec>::new,
    init,
    // Not started again: a push keeps its queues and history and takes the new settings
    // through `Part::reload`.
    reloads: false,
};

fn init(flags: &Flags) -> Result<Option<Arc<dyn Part>>, String> {
    let Some(file) = flags.value("config.file") else {
        return Ok(None);
    };
    let cfg = config::load(Path::new(&file), &host_name())?;
    if cfg.remotes.is_empty() {
        return Ok(None);
    }
    Ok(Some(Arc::new(PushPart {
        cfg,
        file: file.into(),
        running: OnceLock::new(),
    })))
}

/// The machine's name, the default `instance` label (as a scrape would name the target).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

struct PushPart {
    /// The configuration at start (a reload's goes straight to the running push).
    cfg: Config,
    file: std::path::PathBuf,
    running: OnceLock<Push>,
}

impl Part for PushPart {
    fn routes(&self) -> Vec<Route> {
        Vec::new()
    }

    fn write_metrics(&self, enc: &mut Encoder) {
        if let Some(p) = self.running.get() {
            p.write_metrics(enc);
        }
    }

    fn start(&self, routes: &[Route]) -> Result<(), String> {
        let mut handlers = Vec::new();
        for p in &self.cfg.paths {
            let r = routes
                .iter()
                .find(|r| r.matches(&p.path))
                .ok_or_else(|| format!("push path {} is not served by this promlet", p.path))?;
            handlers.push((p.path.clone(), r.handler.clone()));
        }
        // A gather may take at most one interval, as a scrape may take its timeout.
        let timeout = format!(
            "{:.3}",
            self.cfg.interval.min(Duration::from_secs(60)).as_secs_f64()
        );
        let gather: Gather = Box::new(move |path| {
            let (_, h) = handlers
                .iter()
                .find(|(p, _)| p == path)
                .ok_or_else(|| format!("no route for {path}"))?;
            let req = Request {
                method: "GET".into(),
                path: path.to_string(),
                query: String::new(),
                headers: vec![
                    ("accept".into(), "text/plain;version=0.0.4".into()),
                    (
                        "x-prometheus-scrape-timeout-seconds".into(),
                        timeout.clone(),
                    ),
                ],
                client_cert: None,
            };
            let resp = h.handle(&req);
            if resp.status != 200 {
                return Err(format!("{path} answered {}", resp.status));
            }
            String::from_utf8(resp.body).map_err(|_| format!("{path}: body is not UTF-8"))
        });
        let transport: Arc<dyn Transport> = Arc::new(super::http::Http::from_env());
        let push = Push::start(self.cfg.clone(), gather, transport)?;
        for r in push.remotes() {
            let c = r.cfg();
            crate::info!(
                "push: every {:?} to {} ({})",
                self.cfg.interval,
                c.name,
                c.url
            );
        }
        let _ = self.running.set(push);
        Ok(())
    }

    fn reload(&self, flags: &Flags) -> Result<Option<crate::part::Commit>, String> {
        let Some(push) = self.running.get() else {
            return Ok(None);
        };
        // The file named at start; promlet's flags do not change on SIGHUP.
        let file = flags
            .value("config.file")
            .map_or_else(|| self.file.clone(), Into::into);
        let cfg = config::load(&file, &host_name())?;
        if cfg.paths != self.cfg.paths {
            // Checked now, against the routes of this run (parts' routes do not move).
            for p in &cfg.paths {
                if !self.cfg.paths.iter().any(|o| o.path == p.path) {
                    return Err(format!(
                        "push path {} was not pushed at start: a new path needs a restart",
                        p.path
                    ));
                }
            }
        }
        let prepared = push.prepare(cfg)?;
        Ok(Some(Box::new(push.installer(prepared))))
    }

    fn stop(&self, deadline: std::time::Instant) {
        if let Some(p) = self.running.get() {
            p.stop(deadline);
        }
    }
}
