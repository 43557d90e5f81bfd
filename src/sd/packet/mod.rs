//! Packet / Equinix Metal service discovery: lists the devices of every project the API token
//! sees (or of one project) and publishes one Prometheus target group per device, either as a
//! file_sd file (`promlet packet-sd`, flag-compatible with prometheus-packet-sd) or as an
//! http_sd endpoint inside `promlet` (`--packet-sd.enable`, served at `/packet-sd`).
//!
//! - [`api`] — the API client (promlet's own HTTP client + rustls; timeouts, retries, pages).
//! - [`model`] — the API's JSON and the device → labels mapping (pure).
//! - [`output`] — the file, written atomically and only when it changed.
//! - [`metrics`] — `prometheus_packet_sd_*`.
//!
//! A refresh is all or nothing: any failed call leaves the last published targets in place
//! (file or endpoint), counts a failure and is logged (the original logged nothing).
//!
//! File format: <https://prometheus.io/docs/guides/file-sd/>; http_sd contract:
//! <https://prometheus.io/docs/prometheus/latest/http_sd/>.

pub mod api;
pub mod metrics;
pub mod model;
pub mod output;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::expfmt::{self, Encoder};
use crate::flags::{Flags, Spec};
use crate::httpd::{self, Request, Response, Route, Server, Stats};
use crate::part::{Entry, Part};

use metrics::Metrics;
use model::{AddressKind, ProjectInfo};

const DEFAULT_API_URL: &str = "https://api.equinix.com/metal/v1";
/// The systemd credential name read from `$CREDENTIALS_DIRECTORY` (`LoadCredential=`).
const CREDENTIAL_NAME: &str = "packet-authtoken";

/// Flags shared by `promlet packet-sd` and `promlet` (serve).
fn api_specs() -> Vec<Spec> {
    vec![
        Spec::value("packet.authtoken", None, "Packet / Equinix Metal API token.")
            .env("PACKET_AUTH_TOKEN"),
        Spec::value(
            "packet.authtoken-file",
            None,
            "File holding the API token (also read: $CREDENTIALS_DIRECTORY/packet-authtoken, systemd LoadCredential=).",
        ),
        Spec::value(
            "packet.projectid",
            None,
            "Only this project's devices (default: every project the token sees).",
        )
        .env("PACKET_PROJECT_ID"),
        Spec::value("packet.api-url", Some(DEFAULT_API_URL), "Base URL of the API."),
        Spec::value(
            "packet.ca-file",
            None,
            "PEM file of extra CA certificates to trust for the API, besides the system bundle.",
        ),
        Spec::value(
            "packet.address",
            Some("private-ipv4"),
            "Management address used for __address__: private-ipv4, public-ipv4 or public-ipv6.",
        ),
        Spec::value(
            "packet.timeout",
            Some("30s"),
            "Deadline of one API request (connect, TLS, answer and body).",
        ),
        Spec::value(
            "packet.retries",
            Some("4"),
            "Retries of one API request after 429, 5xx or a transport error.",
        ),
        Spec::value(
            "packet.per-page",
            Some("500"),
            "Items asked for per page (the API allows up to 1000).",
        ),
    ]
}

/// Flags of `promlet packet-sd`, named as prometheus-packet-sd names them.
fn cli_specs() -> Vec<Spec> {
    let mut v = vec![
        Spec::value(
            "output.file",
            Some("packet.json"),
            "Output file for file_sd compatible file.",
        ),
        Spec::value(
            "target.refresh",
            Some("30s"),
            "The refresh interval (a duration, or plain seconds as the original took).",
        ),
        Spec::value(
            "target.port",
            Some("9100"),
            "The port to scrape metrics from.",
        ),
        Spec::value(
            "web.listen-address",
            Some(":9465"),
            "Address to listen on for its own /metrics.",
        ),
        Spec::switch(
            "packet.startcheck",
            true,
            "Check the API token at start and exit 1 if it does not work.",
        ),
    ];
    v.extend(api_specs());
    v
}

/// Flags `promlet` (serve) gets from this part.
fn serve_specs() -> Vec<Spec> {
    let mut v = vec![
        Spec::switch(
            "packet-sd.enable",
            false,
            "Serve Packet devices as http_sd targets at /packet-sd (also on when a --packet.authtoken* flag is given).",
        ),
        Spec::value("packet-sd.refresh-interval", Some("30s"), "Packet SD refresh interval."),
        Spec::value(
            "packet-sd.target-port",
            Some("9100"),
            "Port of the Packet SD targets.",
        ),
    ];
    v.extend(api_specs());
    v
}

/// Everything a discovery needs, checked at start.
#[derive(Debug)]
struct Config {
    api: api::Settings,
    project_id: Option<String>,
    kind: AddressKind,
    port: u16,
    refresh: Duration,
}

fn parse_config(f: &Flags, refresh_flag: &str, port_flag: &str) -> Result<Config, String> {
    let token = resolve_token(f)?;
    let api_url = f
        .value("packet.api-url")
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        return Err(format!(
            "--packet.api-url must be an http(s) URL, not {api_url:?}"
        ));
    }
    let project_id = f.value("packet.projectid").filter(|s| !s.is_empty());
    if let Some(p) = &project_id {
        if !p
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!("--packet.projectid {p:?} is not a project id"));
        }
    }
    let kind = f.value("packet.address").unwrap_or_default();
    let kind = AddressKind::parse(&kind).ok_or_else(|| {
        format!("--packet.address must be private-ipv4, public-ipv4 or public-ipv6, not {kind:?}")
    })?;
    let port_s = f.value(port_flag).unwrap_or_default();
    let port: u16 = port_s
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("--{port_flag} must be a port number, not {port_s:?}"))?;
    let duration = |name: &str| -> Result<Duration, String> {
        let s = f.value(name).unwrap_or_default();
        // The original took whole seconds ("30"); keep accepting that.
        let d = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok().map(Duration::from_secs)
        } else {
            crate::flags::parse_duration(&s)
        };
        d.filter(|d| !d.is_zero())
            .ok_or_else(|| format!("--{name} must be a positive duration like 30s, not {s:?}"))
    };
    let refresh = duration(refresh_flag)?;
    let timeout = duration("packet.timeout")?;
    let number = |name: &str, max: u32| -> Result<u32, String> {
        let s = f.value(name).unwrap_or_default();
        s.parse()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("--{name} must be a number up to {max}, not {s:?}"))
    };
    let retries = number("packet.retries", 20)?;
    let per_page = number("packet.per-page", 1000)?.max(1);
    Ok(Config {
        api: api::Settings {
            api_url,
            token,
            timeout,
            retries,
            per_page,
            ca_files: f
                .value("packet.ca-file")
                .map(PathBuf::from)
                .into_iter()
                .collect(),
        },
        project_id,
        kind,
        port,
        refresh,
    })
}

/// The token, from (first found): `--packet.authtoken`, `--packet.authtoken-file`, the
/// systemd credential, `$PACKET_AUTH_TOKEN`. A file is read whole, surrounding whitespace
/// (the trailing newline) dropped.
fn resolve_token(f: &Flags) -> Result<String, String> {
    if f.is_given("packet.authtoken") && f.is_given("packet.authtoken-file") {
        return Err("give --packet.authtoken or --packet.authtoken-file, not both".into());
    }
    let read = |p: PathBuf| -> Result<String, String> {
        let t = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let t = t.trim().to_string();
        if t.is_empty() {
            return Err(format!("{}: empty token file", p.display()));
        }
        Ok(t)
    };
    let token = if f.is_given("packet.authtoken") {
        f.value("packet.authtoken").unwrap_or_default()
    } else if let Some(p) = f.value("packet.authtoken-file") {
        read(PathBuf::from(p))?
    } else if let Some(p) = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|d| PathBuf::from(d).join(CREDENTIAL_NAME))
        .filter(|p| p.exists())
    {
        read(p)?
    } else {
        f.value("packet.authtoken").unwrap_or_default()
    };
    if token.is_empty() {
        return Err(
            "no API token: pass --packet.authtoken or --packet.authtoken-file, set PACKET_AUTH_TOKEN, or give systemd credential packet-authtoken".into(),
        );
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the API token has characters a header cannot carry".into());
    }
    Ok(token)
}

/// The targets of one successful refresh: serialized groups, sorted and without duplicates
/// (a device seen on two pages while the list shifted).
pub struct Snapshot {
    pub groups: Vec<model::Target>,
    pub skipped: usize,
    pub projects: usize,
}

/// One discovery: the client plus what turns devices into targets.
pub struct Discovery {
    client: api::Client,
    project_id: Option<String>,
    kind: AddressKind,
    port: u16,
    pub metrics: Arc<Metrics>,
}

impl Discovery {
    fn new(c: &Config) -> Result<Discovery, String> {
        Ok(Discovery {
            client: api::Client::new(c.api.clone()).map_err(|e| e.to_string())?,
            project_id: c.project_id.clone(),
            kind: c.kind,
            port: c.port,
            metrics: Arc::new(Metrics::default()),
        })
    }

    /// Times one list call for the histogram and counts its failure.
    fn call<T>(&self, f: impl FnOnce() -> Result<T, api::Error>) -> Result<T, api::Error> {
        let start = Instant::now();
        let r = f();
        self.metrics.observe_call(start.elapsed(), r.is_ok());
        r
    }

    /// Lists every device; the first failed call ends the refresh with its error.
    pub fn refresh(&self) -> Result<Snapshot, api::Error> {
        let projects: Vec<ProjectInfo> = match &self.project_id {
            Some(id) => {
                let p = self.call(|| self.client.project(id))?;
                let mut info = ProjectInfo::from_project(&p);
                info.id = id.clone();
                vec![info]
            }
            None => self
                .call(|| self.client.projects())?
                .iter()
                .map(ProjectInfo::from_project)
                .filter(|p| !p.id.is_empty())
                .collect(),
        };
        let mut groups: Vec<model::Target> = Vec::new();
        let mut skipped = 0;
        for p in &projects {
            let found = self.call(|| {
                self.client.devices(&p.id, |d| {
                    model::device_group(&d, p, self.kind, self.port)
                        .and_then(|g| model::Target::from_group(&g))
                })
            })?;
            for g in found {
                match g {
                    Some(g) => groups.push(g),
                    None => skipped += 1,
                }
            }
        }
        groups.sort_unstable();
        groups.dedup();
        groups.shrink_to_fit();
        Ok(Snapshot {
            groups,
            skipped,
            projects: projects.len(),
        })
    }

    /// Refreshes now and then every `interval` (at once if a refresh took longer), handing
    /// each successful result to `publish`, which says whether anything changed.
    fn run(&self, interval: Duration, mut publish: impl FnMut(&Snapshot) -> Result<bool, String>) {
        let what = match self.kind {
            AddressKind::PrivateIpv4 => "private IPv4",
            AddressKind::PublicIpv4 => "public IPv4",
            AddressKind::PublicIpv6 => "public IPv6",
        };
        loop {
            let start = Instant::now();
            match self.refresh() {
                Ok(snap) => match publish(&snap) {
                    Ok(changed) => {
                        self.metrics
                            .refreshed(snap.groups.len(), snap.skipped, snap.projects);
                        if changed {
                            crate::info!(
                                "packet-sd: {} targets from {} projects; devices left out for want of a {what} management address: {}",
                                snap.groups.len(),
                                snap.projects,
                                snap.skipped
                            );
                        }
                    }
                    Err(e) => {
                        self.metrics.write_failed();
                        crate::error!("packet-sd: {e}");
                    }
                },
                Err(e) => crate::error!("packet-sd: refresh failed, keeping the last targets: {e}"),
            }
            std::thread::sleep(interval.saturating_sub(start.elapsed()));
        }
    }
}

/// `promlet packet-sd [flags]`.
pub fn cli_main(args: &[String]) -> i32 {
    let about = "\nWrites the devices of a Packet / Equinix Metal account to a file_sd file, one target group per device.\n";
    let flags = match crate::flags::parse_command(
        "promlet packet-sd",
        "promlet packet-sd [<flags>]",
        cli_specs(),
        args.iter().cloned(),
        about,
    ) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if let Some(p) = flags.positional().first() {
        eprintln!("promlet packet-sd: unexpected argument {p:?}");
        return 2;
    }
    let config = match parse_config(&flags, "target.refresh", "target.port") {
        Ok(c) => c,
        Err(e) => {
            eprintln!("promlet packet-sd: {e}");
            return 2;
        }
    };
    let output = PathBuf::from(flags.value("output.file").unwrap_or_default());
    if output.as_os_str().is_empty() || output.file_name().is_none() {
        eprintln!("promlet packet-sd: --output.file must name a file");
        return 2;
    }
    // The temporary file goes next to the output, so its directory must exist (a missing
    // one would only show up as a failed write after the first refresh).
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        eprintln!(
            "promlet packet-sd: --output.file {}: directory {} does not exist",
            output.display(),
            dir.display()
        );
        return 2;
    }
    let disc = match Discovery::new(&config) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("promlet packet-sd: {e}");
            return 1;
        }
    };
    let listen = flags.value("web.listen-address").unwrap_or_default();
    let _server = match start_metrics_server(&listen, disc.metrics.clone()) {
        Ok(s) => s,
        Err(e) => {
            crate::error!("packet-sd: {e}");
            eprintln!("promlet packet-sd: {e}");
            return 1;
        }
    };
    crate::info!(
        "packet-sd: writing {} every {:?} from {}; metrics on {}",
        output.display(),
        config.refresh,
        config.api.api_url,
        _server.local_addr()
    );
    if flags.switch("packet.startcheck") {
        if let Err(e) = disc.start_check() {
            crate::error!("failed to check Packet credentials: {e}");
            eprintln!("promlet packet-sd: failed to check Packet credentials: {e}");
            return 1;
        }
    }
    disc.run(config.refresh, |snap| {
        if output::unchanged(&output, &snap.groups) {
            return Ok(false);
        }
        output::write_atomic(&output, &snap.groups)
            .map(|_| true)
            .map_err(|e| format!("write {}: {e}", output.display()))
    });
    0
}

impl Discovery {
    /// The original's start check: one cheap authenticated call (`GET /projects/{id}` or
    /// the first page of `GET /projects`), so a wrong token stops the service at once.
    fn start_check(&self) -> Result<(), api::Error> {
        match &self.project_id {
            Some(id) => self.client.project(id).map(drop),
            None => self.client.first_projects_page(),
        }
    }
}

fn start_metrics_server(listen: &str, metrics: Arc<Metrics>) -> Result<Server, String> {
    let route = Route::new("/metrics", "Metrics", move |_: &Request| {
        let mut enc = Encoder::new();
        metrics.write(&mut enc);
        crate::self_metrics::write_build_info(&mut enc);
        crate::self_metrics::write_process_metrics(&mut enc);
        Response::new(200, expfmt::CONTENT_TYPE, enc.into_bytes())
    });
    let listener = httpd::bind(listen)?;
    Server::start(
        listener,
        vec![route],
        httpd::Options {
            max_workers: 4,
            ..httpd::Options::default()
        },
        Arc::new(Stats::default()),
    )
    .map_err(|e| format!("start server: {e}"))
}

/// The http_sd side inside `promlet`.
struct HttpSd {
    /// The last published JSON array; `None` until the first refresh succeeds.
    body: Arc<Mutex<Option<Arc<Vec<u8>>>>>,
    metrics: Arc<Metrics>,
}

impl Part for HttpSd {
    fn routes(&self) -> Vec<Route> {
        let body = self.body.clone();
        vec![Route::new(
            "/packet-sd",
            "Packet SD targets (http_sd)",
            move |_: &Request| {
                let current = body.lock().unwrap_or_else(|e| e.into_inner()).clone();
                match current {
                    Some(b) => Response::json(200, b.as_slice()),
                    // Not 200: Prometheus keeps what it had and says why in its log.
                    None => Response::text(503, "packet-sd: no successful refresh yet"),
                }
            },
        )]
    }

    fn write_metrics(&self, enc: &mut Encoder) {
        self.metrics.write(enc);
    }
}

fn init(f: &Flags) -> Result<Option<Arc<dyn Part>>, String> {
    let enabled = f.switch("packet-sd.enable")
        || f.is_given("packet.authtoken")
        || f.is_given("packet.authtoken-file");
    if !enabled {
        return Ok(None);
    }
    let config = parse_config(f, "packet-sd.refresh-interval", "packet-sd.target-port")?;
    let disc = Discovery::new(&config)?;
    let part = HttpSd {
        body: Arc::new(Mutex::new(None)),
        metrics: disc.metrics.clone(),
    };
    let body = part.body.clone();
    std::thread::Builder::new()
        .name("packet-sd".into())
        .spawn(move || {
            disc.run(config.refresh, |snap| {
                let new = output::to_bytes(&snap.groups);
                let mut cur = body.lock().unwrap_or_else(|e| e.into_inner());
                let changed = cur.as_deref().map(Vec::as_slice) != Some(new.as_slice());
                if changed {
                    *cur = Some(Arc::new(new));
                }
                Ok(changed)
            })
        })
        .map_err(|e| format!("start refresher: {e}"))?;
    Ok(Some(Arc::new(part)))
}

pub const PART: Entry = Entry {
    name: "packet-sd",
    flags: serve_specs,
    init,
    reloads: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::parse("t", cli_specs(), args.iter().map(|s| s.to_string())).unwrap()
    }

    #[test]
    fn config_defaults_and_original_spellings() {
        let c = parse_config(
            &flags(&["--packet.authtoken=tok", "--target.refresh=60"]),
            "target.refresh",
            "target.port",
        )
        .unwrap();
        assert_eq!(c.api.api_url, DEFAULT_API_URL);
        assert_eq!(c.refresh, Duration::from_secs(60));
        assert_eq!(c.port, 9100);
        assert_eq!(c.kind, AddressKind::PrivateIpv4);
        assert_eq!(c.api.token, "tok");
        let c = parse_config(
            &flags(&[
                "--packet.authtoken=tok",
                "--target.refresh=1m30s",
                "--packet.api-url=http://x/v1/",
            ]),
            "target.refresh",
            "target.port",
        )
        .unwrap();
        assert_eq!(c.refresh, Duration::from_secs(90));
        assert_eq!(c.api.api_url, "http://x/v1");
    }

    #[test]
    fn config_errors() {
        for args in [
            &["--packet.authtoken=t", "--target.port=0"][..],
            &["--packet.authtoken=t", "--target.refresh=0s"],
            &["--packet.authtoken=t", "--packet.address=elastic"],
            &["--packet.authtoken=t", "--packet.api-url=ftp://x"],
            &["--packet.authtoken=t", "--packet.projectid=../x"],
            &["--packet.authtoken=t", "--packet.per-page=5000"],
            &[
                "--packet.authtoken=t",
                "--packet.authtoken-file=/nonexistent",
            ],
            &["--packet.authtoken=a b"],
        ] {
            assert!(
                parse_config(&flags(args), "target.refresh", "target.port").is_err(),
                "{args:?}"
            );
        }
    }

    #[test]
    fn token_file_is_trimmed() {
        let p = std::env::temp_dir().join(format!("promlet-token-{}", std::process::id()));
        std::fs::write(&p, "secret\n").unwrap();
        let arg = format!("--packet.authtoken-file={}", p.display());
        let c = parse_config(&flags(&[&arg]), "target.refresh", "target.port").unwrap();
        assert_eq!(c.api.token, "secret");
        std::fs::write(&p, "\n").unwrap();
        assert!(parse_config(&flags(&[&arg]), "target.refresh", "target.port").is_err());
        let _ = std::fs::remove_file(&p);
    }
}
