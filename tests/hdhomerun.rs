//! HDHomeRun end to end: the vendor's hdhomerun_config and promlet's CLI against the same
//! fake device, misbehaving devices, the exporter through promtool and a real Prometheus.

#![cfg(feature = "hdhomerun")]

mod common;
mod fake_hdhomerun;

use common::*;
use fake_hdhomerun::{Fake, Mode, DEVICE_ID};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// stdout, stderr and exit code of a command.
fn run(bin: &std::path::Path, args: &[&str]) -> (String, String, i32) {
    let out: Output = Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn promlet_cli(args: &[&str]) -> (String, String, i32) {
    let mut a = vec!["hdhomerun"];
    a.extend_from_slice(args);
    run(&promlet_bin(), &a)
}

/// The one test that binds 127.0.0.1:65001, the port hdhomerun_config insists on. Everything
/// that needs that port happens here, one step after another.
#[test]
fn vendor_hdhomerun_config_and_promlet_agree_on_fake_device_at_65001() {
    let vendor = require_tool("hdhomerun_config", "hdhomerun-config");
    // Another run of this test (another worktree, a second `cargo test`) may hold the port
    // for a few seconds: wait a while before giving up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let fake = loop {
        match Fake::start(65001, 2) {
            Ok(f) => break f,
            Err(e) if Instant::now() > deadline => panic!(
                "cannot bind 127.0.0.1:65001 (TCP and UDP) for the fake HDHomeRun: {e}. \
                 hdhomerun_config only talks to port 65001: stop whatever holds it \
                 (another test run, a fake device, or a real HDHomeRun service) and retry"
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    };
    let v = |args: &[&str]| run(&vendor, args);

    // get: the value on stdout, exit 0.
    let model = v(&["127.0.0.1", "get", "/sys/model"]);
    assert_eq!(model, ("hdhomerun4_atsc\n".into(), String::new(), 0));
    assert_eq!(promlet_cli(&["get", "127.0.0.1", "/sys/model"]), model);

    // A multi-line value longer than 127 bytes: the two-byte TLV length.
    let debug = v(&["127.0.0.1", "get", "/tuner0/debug"]);
    assert_eq!(debug.2, 0, "{debug:?}");
    assert!(
        debug
            .0
            .starts_with("tun: ch=auto:21 lock=8vsb:515000000 ss=80"),
        "{debug:?}"
    );
    assert!(debug.0.len() > 130);
    assert_eq!(promlet_cli(&["get", "127.0.0.1", "/tuner0/debug"]), debug);

    // The vendor sends a UDP discover, then /sys/model, then the item, on one connection.
    {
        let st = fake.state.lock().unwrap();
        let want = [
            0x00, 0x02, 0x00, 0x0c, 0x01, 0x04, 0xff, 0xff, 0xff, 0xff, 0x02, 0x04, 0xff, 0xff,
            0xff, 0xff, 0x73, 0xcc, 0x7d, 0x8f,
        ];
        assert_eq!(st.discovers[0], want, "discover request bytes");
    }

    // An error reply: the device's text on stdout, exit 1.
    let missing = v(&["127.0.0.1", "get", "/tuner9/debug"]);
    assert_eq!(
        missing,
        ("ERROR: unknown getset variable\n".into(), String::new(), 1)
    );
    assert_eq!(promlet_cli(&["get", "127.0.0.1", "/tuner9/debug"]), missing);

    // set: no output, exit 0, and the device changed.
    let set = v(&["127.0.0.1", "set", "/tuner0/channel", "auto:123"]);
    assert_eq!(set, (String::new(), String::new(), 0));
    assert_eq!(fake.channel(0), "auto:123");
    assert_eq!(
        promlet_cli(&["set", "127.0.0.1", "/tuner0/channel", "auto:124"]),
        set
    );
    assert_eq!(fake.channel(0), "auto:124");
    let status = v(&["127.0.0.1", "get", "/tuner0/status"]);
    assert!(status.0.starts_with("ch=auto:124 lock=8vsb"), "{status:?}");

    // A set the device refuses.
    let bogus = v(&["127.0.0.1", "set", "/tuner0/channel", "bogus"]);
    assert_eq!(bogus, ("ERROR: invalid channel\n".into(), String::new(), 1));
    assert_eq!(
        promlet_cli(&["set", "127.0.0.1", "/tuner0/channel", "bogus"]),
        bogus
    );

    // A set with the tuner lock key.
    let keyed = v(&[
        "127.0.0.1",
        "key",
        "0x12345678",
        "set",
        "/tuner1/channel",
        "8vsb:183000000",
    ]);
    assert_eq!(keyed.2, 0, "{keyed:?}");
    assert_eq!(
        fake.state.lock().unwrap().lockkeys.last(),
        Some(&Some(0x1234_5678))
    );
    assert_eq!(
        promlet_cli(&[
            "set",
            "--key=0x12345678",
            "127.0.0.1",
            "/tuner1/channel",
            "qam:381000000"
        ])
        .2,
        0
    );
    assert_eq!(fake.channel(1), "qam:381000000");
    assert_eq!(
        fake.state.lock().unwrap().lockkeys.last(),
        Some(&Some(0x1234_5678))
    );

    // discover to one address.
    let disc = v(&["discover", "127.0.0.1"]);
    assert_eq!(
        disc,
        (
            format!("hdhomerun device {DEVICE_ID:08X} found at 127.0.0.1\n"),
            String::new(),
            0
        )
    );
    assert_eq!(promlet_cli(&["discover", "127.0.0.1"]), disc);

    // With the device gone: discover finds nothing, get cannot connect; both exit 1.
    drop(fake);
    let none = v(&["discover", "127.0.0.1"]);
    assert_eq!(none, ("no devices found\n".into(), String::new(), 1));
    assert_eq!(
        promlet_cli(&["discover", "--timeout=500ms", "127.0.0.1"]),
        none
    );
    let dead = v(&["127.0.0.1", "get", "/sys/model"]);
    assert_eq!(dead.2, 1);
    assert!(dead.1.contains("unable to connect to device"), "{dead:?}");
    let ours = promlet_cli(&["get", "127.0.0.1", "/sys/model"]);
    assert_eq!(ours.2, 1);
    assert!(
        ours.1.starts_with("unable to connect to device"),
        "{ours:?}"
    );
}

#[test]
fn promlet_cli_uses_any_port_and_hostnames() {
    let fake = Fake::start(0, 2).unwrap();
    let dev = format!("127.0.0.1:{}", fake.addr.port());
    assert_eq!(
        promlet_cli(&["get", &dev, "/sys/version"]),
        ("20200907\n".into(), String::new(), 0)
    );
    let local = format!("localhost:{}", fake.addr.port());
    assert_eq!(
        promlet_cli(&["get", &local, "/sys/model"]).0,
        "hdhomerun4_atsc\n"
    );
    assert_eq!(
        promlet_cli(&["discover", &local]).0,
        format!("hdhomerun device {DEVICE_ID:08X} found at 127.0.0.1\n")
    );
    assert_eq!(
        promlet_cli(&["discover", &dev]).0,
        format!("hdhomerun device {DEVICE_ID:08X} found at 127.0.0.1\n")
    );
    // Usage errors say what is wrong.
    let (_, err, code) = promlet_cli(&["get", &dev]);
    assert_eq!(code, 1);
    assert!(err.contains("usage:"), "{err}");
    let (_, err, code) = promlet_cli(&["get", "not a host:x", "/sys/model"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid device id"), "{err}");
}

#[test]
fn misbehaving_devices_give_clear_errors_in_bounded_time() {
    let fake = Fake::start(0, 2).unwrap();
    let dev = format!("127.0.0.1:{}", fake.addr.port());
    let cases = [
        (Mode::Silent, "no reply from device before the deadline"),
        (Mode::CloseMidReply, "device closed the connection after"),
        (
            Mode::WrongItem,
            "reply is for item \"/sys/version\", not \"/sys/model\"",
        ),
        (Mode::BadCrc, "bad reply: bad crc"),
        (Mode::Garbage, "bad reply: bad crc"),
        (
            Mode::LengthTooLarge,
            "no reply from device before the deadline",
        ),
    ];
    for (mode, want) in cases {
        fake.set_mode(mode);
        let t = Instant::now();
        let (out, err, code) = promlet_cli(&["get", "--timeout=1s", &dev, "/sys/model"]);
        let took = t.elapsed();
        assert_eq!(code, 1, "{mode:?}: {out} {err}");
        assert!(out.is_empty(), "{mode:?}: {out}");
        assert!(
            err.starts_with("communication error sending request to hdhomerun device: ")
                && err.contains(want),
            "{mode:?}: want {want:?}, got {err:?}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(took < Duration::from_secs(15), "{mode:?} took {took:?}");
    }

    // The exporter turns each of them into hdhomerun_up 0, within its deadline.
    let p = promlet(&[
        LOOPBACK,
        "--hdhomerun.timeout=1s",
        "--hdhomerun.scrape-timeout=3s",
    ]);
    for (mode, _) in cases {
        fake.set_mode(mode);
        let t = Instant::now();
        let r = http_get(p.addr, &format!("/hdhomerun?target={dev}"));
        let took = t.elapsed();
        assert_eq!(r.status, 200, "{mode:?}");
        assert!(
            r.text().contains("hdhomerun_up 0\n"),
            "{mode:?}: {}",
            r.text()
        );
        assert!(
            !r.text().contains("hdhomerun_device_info"),
            "{mode:?}: {}",
            r.text()
        );
        assert!(took < Duration::from_secs(15), "{mode:?} took {took:?}");
    }
    fake.set_mode(Mode::Normal);
    let r = http_get(p.addr, &format!("/hdhomerun?target={dev}"));
    assert!(r.text().contains("hdhomerun_up 1\n"), "{}", r.text());
    assert!(!p.log_text().contains("panicked"), "{}", p.log_text());
    assert!(
        p.log_text().contains("hdhomerun device ") && p.log_text().contains(" is down: "),
        "failures are logged: {}",
        p.log_text()
    );
}

/// The fake devices listen on loopback, which the default allow-list refuses.
const LOOPBACK: &str = "--hdhomerun.allowed-targets=127.0.0.1/32";

fn scrape(promlet: &Proc, query: &str) -> HttpResponse {
    http_get(promlet.addr, &format!("/hdhomerun{query}"))
}

#[test]
fn exporter_scrapes_fake_device_and_passes_promtool() {
    let fake = Fake::start(0, 4).unwrap();
    let p = promlet(&[LOOPBACK, "--hdhomerun.timeout=1s"]);
    let target = format!("127.0.0.1:{}", fake.addr.port());
    let r = scrape(&p, &format!("?target={target}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    for want in [
        "hdhomerun_up 1\n",
        "hdhomerun_device_info{hwmodel=\"HDHR4-2US\",model=\"hdhomerun4_atsc\",version=\"20200907\"} 1\n",
        "hdhomerun_tuners 4\n",
        "hdhomerun_tuner_info{channel=\"auto:21\",lock=\"8vsb:515000000\",tuner=\"0\"} 1\n",
        "hdhomerun_tuner_info{channel=\"none\",lock=\"none\",tuner=\"3\"} 1\n",
        "hdhomerun_tuner_signal_strength_ratio{tuner=\"0\"} 0.8\n",
        "hdhomerun_tuner_signal_to_noise_ratio{tuner=\"0\"} 0.76\n",
        "hdhomerun_tuner_symbol_error_ratio{tuner=\"0\"} 1\n",
        "hdhomerun_tuner_programs{tuner=\"0\"} 3\n",
        "hdhomerun_network_packets_per_second{tuner=\"0\"} 1451\n",
        "hdhomerun_network_errors{tuner=\"3\"} 0\n",
        "# TYPE hdhomerun_scrape_duration_seconds gauge\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    promtool_check_metrics(&text);
    // One connection per scrape, each tuner's debug read once, stopping at tuner 4.
    let names = fake.names();
    assert_eq!(fake.state.lock().unwrap().connections, 1);
    assert_eq!(names.iter().filter(|n| *n == "/tuner0/debug").count(), 1);
    assert_eq!(names.last().map(String::as_str), Some("/tuner4/debug"));

    // A bare host gets port 65001; nothing listens there in this test (or something else
    // does): either way the answer is a well-formed scrape.
    assert_eq!(scrape(&p, "").status, 400);
    assert_eq!(scrape(&p, "?target=").status, 400);
    assert!(scrape(&p, "").text().contains("missing target parameter"));
    assert_eq!(scrape(&p, "?target=a%20b").status, 400);

    // A dead device: 200 with hdhomerun_up 0, promptly.
    let dead = format!("127.0.0.1:{}", free_port());
    let r = scrape(&p, &format!("?target={dead}"));
    assert_eq!(r.status, 200);
    assert!(r.text().contains("hdhomerun_up 0\n"), "{}", r.text());
    promtool_check_metrics(&r.text());

    // A device that never answers is bounded by Prometheus's announced timeout.
    fake.set_mode(Mode::Silent);
    let t = Instant::now();
    let r = http_request(
        p.addr,
        "GET",
        &format!("/hdhomerun?target={target}"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "0.6")],
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(r.text().contains("hdhomerun_up 0\n"), "{}", r.text());
    assert!(!r.text().contains("hdhomerun_tuner_info"), "{}", r.text());

    // promlet's own counters on /metrics.
    let m = http_get(p.addr, "/metrics").text();
    assert!(m.contains("promlet_hdhomerun_scrapes_total 3\n"), "{m}");
    assert!(
        m.contains("promlet_hdhomerun_scrape_failures_total 2\n"),
        "{m}"
    );

    // A name that does not resolve is a failed scrape too, bounded like the others.
    let t = Instant::now();
    let r = http_request(
        p.addr,
        "GET",
        "/hdhomerun?target=no-such-device.invalid",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "2")],
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(r.status, 200);
    assert!(r.text().contains("hdhomerun_up 0\n"), "{}", r.text());
}

/// By default `/hdhomerun` connects only to private, link-local and unique-local addresses:
/// loopback is refused however it is spelt (checked after resolving), before any connection,
/// so no duration metric tells its ports apart. It used to connect anywhere.
#[test]
fn the_default_allow_list_refuses_loopback_in_every_spelling() {
    let fake = Fake::start(0, 1).unwrap();
    let port = fake.addr.port();
    let p = promlet(&[]);
    for host in [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f.1",
        "0177.0.0.1",
        "localhost",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
    ] {
        let r = scrape(&p, &format!("?target={host}:{port}"));
        assert_eq!(r.status, 403, "{host}: {}", r.text());
        assert!(r.text().contains("not allowed"), "{host}: {}", r.text());
        assert!(!r.text().contains("hdhomerun_scrape_duration_seconds"));
    }
    let m = http_get(p.addr, "/metrics").text();
    assert!(m.contains("promlet_hdhomerun_denied_total 9\n"), "{m}");
    assert!(m.contains("promlet_hdhomerun_scrapes_total 0\n"), "{m}");
    assert!(
        p.log_text()
            .contains("allowed targets: 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,fe80::/10,fc00::/7"),
        "{}",
        p.log_text()
    );
}

#[test]
fn exporter_allow_list() {
    let fake = Fake::start(0, 1).unwrap();
    let target = format!("127.0.0.1:{}", fake.addr.port());
    let p = promlet(&["--hdhomerun.allowed-targets=10.0.0.0/8,192.168.0.0/16"]);
    let r = scrape(&p, &format!("?target={target}"));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("not allowed"));
    let r = scrape(&p, &format!("?target=localhost:{}", fake.addr.port()));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(fake.names().is_empty(), "a denied target was contacted");
    let m = http_get(p.addr, "/metrics").text();
    assert!(m.contains("promlet_hdhomerun_denied_total 2\n"), "{m}");
    drop(p);

    let p = promlet(&[
        "--hdhomerun.allowed-targets=10.0.0.0/8",
        "--hdhomerun.allowed-targets=127.0.0.0/8",
    ]);
    let r = scrape(&p, &format!("?target={target}"));
    assert_eq!(r.status, 200);
    assert!(r.text().contains("hdhomerun_up 1\n"), "{}", r.text());
    // A name is resolved and checked; its allowed address is the one scraped.
    let r = scrape(&p, &format!("?target=localhost:{}", fake.addr.port()));
    assert_eq!(r.status, 200);
    assert!(r.text().contains("hdhomerun_up 1\n"), "{}", r.text());

    // A bad network is fatal at start.
    let (_, err, code) = run(
        &promlet_bin(),
        &[
            "--web.listen-address=127.0.0.1:0",
            "--hdhomerun.allowed-targets=10.0.0.0/99",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("--hdhomerun.allowed-targets: bad network"),
        "{err}"
    );
}

#[test]
fn prometheus_scrapes_hdhomerun_through_relabelling() {
    let fake = Fake::start(0, 2).unwrap();
    let p = promlet(&[LOOPBACK]);
    let target = format!("127.0.0.1:{}", fake.addr.port());
    let prom = Prometheus::start(&format!(
        r#"
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: hdhomerun
    metrics_path: /hdhomerun
    static_configs:
      - targets: ["{target}"]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: "{promlet}"
"#,
        promlet = p.addr
    ));
    // Prometheus listens before its TSDB is ready and answers 503 until then.
    wait_for(Duration::from_secs(60), || {
        (http_get(prom.proc.addr, "/-/ready").status == 200).then_some(())
    })
    .expect("prometheus never became ready");
    let q = format!("hdhomerun_tuner_signal_strength_ratio{{instance=\"{target}\",tuner=\"0\"}}");
    let r = prom.wait_query(&q, Duration::from_secs(60));
    assert_eq!(r[0]["value"][1], "0.8", "{r:?}");
    let up = prom.wait_query(
        &format!("hdhomerun_up{{job=\"hdhomerun\",instance=\"{target}\"}}"),
        Duration::from_secs(30),
    );
    assert_eq!(up[0]["value"][1], "1");
    let info = prom.wait_query("hdhomerun_tuner_info{tuner=\"1\"}", Duration::from_secs(30));
    assert_eq!(info[0]["metric"]["channel"], "none");
}

/// The exporter's whole output for the fake 4-tuner device, against
/// tests/fixtures/hdhomerun/scrape.prom (`UPDATE_GOLDEN=1` or `make golden` rewrites it).
#[test]
fn exporter_output_matches_golden() {
    let fake = Fake::start(0, 4).unwrap();
    let p = promlet(&[LOOPBACK]);
    let r = http_get(
        p.addr,
        &format!("/hdhomerun?target=127.0.0.1:{}", fake.addr.port()),
    );
    assert_eq!(r.status, 200);
    // The duration is the one value that changes from run to run.
    let text: String = r
        .text()
        .lines()
        .map(
            |l| match l.strip_prefix("hdhomerun_scrape_duration_seconds ") {
                Some(_) => "hdhomerun_scrape_duration_seconds <elided>\n".to_string(),
                None => format!("{l}\n"),
            },
        )
        .collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hdhomerun/scrape.prom");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(text, want, "output differs from {}", path.display());
    promtool_check_metrics(&want.replace("<elided>", "0.001"));
}
