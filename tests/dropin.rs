//! promlet as a drop-in for node_exporter: an existing unit's flags start it (the real
//! node_exporter 1.5 accepts the same line), logs in node_exporter's levels and formats,
//! `collect[]` answers like node_exporter, and failures are logged as changes, not per scrape.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The stderr lines of a finished promlet run with `args`, and its exit code.
fn run_to_exit(args: &[&str]) -> (Option<i32>, Vec<String>) {
    let out = Command::new(promlet_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(String::from)
        .collect();
    (out.status.code(), lines)
}

/// A Debian `/etc/default/prometheus-node-exporter` ARGS line as people write them (old
/// spellings included), split on blanks the way systemd splits `$ARGS`.
#[cfg(feature = "node")]
fn debian_args_line(textfile_dir: &str) -> Vec<String> {
    let line = format!(
        "--collector.diskstats.ignored-devices=^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$ \
         --collector.filesystem.ignored-mount-points=^/ \
         --collector.netclass.ignored-devices=^(veth.*)$ \
         --collector.textfile.directory={textfile_dir} \
         --no-collector.wifi --collector.systemd --collector.ntp.server 127.0.0.1 \
         --collector.cpu.info --collector.netdev.device-exclude=^lo$ \
         --log.level=debug --log.format=json"
    );
    line.split_whitespace().map(String::from).collect()
}

#[cfg(feature = "node")]
#[test]
fn node_exporter_unit_args_line_starts_promlet() {
    let dir = tempdir("dropin-args");
    let tf = dir.join("textfile");
    std::fs::create_dir_all(&tf).unwrap();
    std::fs::write(tf.join("a.prom"), "dropin_marker 1\n").unwrap();
    let args = debian_args_line(tf.to_str().unwrap());

    // The line is a real node_exporter 1.5 line: that binary starts with it and serves.
    let ne = require_tool("prometheus-node-exporter", "prometheus-node-exporter");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut ne_args = args.clone();
    ne_args.push(format!("--web.listen-address={addr}"));
    let ne_proc = spawn_listening(&ne, &ne_args, addr, "node_exporter");
    let ne_text = http_get(ne_proc.addr, "/metrics").text();
    assert!(ne_text.contains("dropin_marker 1"), "{ne_text}");
    drop(ne_proc);

    // promlet starts with it too, plus --web.systemd-socket (needs socket activation, so
    // node_exporter itself cannot run with it here).
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.push("--web.systemd-socket");
    let p = promlet(&a);
    let r = http_get(p.addr, "/metrics");
    assert_eq!(r.status, 200);
    let text = r.text();
    promtool_check_metrics(&text);
    assert!(text.contains("dropin_marker 1"), "{text}");
    assert!(text.contains("node_cpu_seconds_total"), "{text}");
    // --collector.filesystem.ignored-mount-points=^/ went to mount-points-exclude: every
    // mount is excluded, as in node_exporter.
    assert!(!text.contains("node_filesystem_size_bytes{"), "{text}");
    assert!(
        !ne_text.contains("node_filesystem_size_bytes{"),
        "{ne_text}"
    );

    let log = wait_for(Duration::from_secs(10), || {
        let l = p.log_text();
        l.contains("listening on").then_some(l)
    })
    .unwrap_or_else(|| p.log_text());
    let ignoring: Vec<&str> = log.lines().filter(|l| l.contains("ignoring")).collect();
    assert_eq!(ignoring.len(), 1, "one warning for all of them:\n{log}");
    // The rest of the line (diskstats, netclass, wifi, cpu.info) are real flags of this build.
    for f in [
        "--collector.systemd",
        "--collector.ntp.server",
        "--web.systemd-socket",
    ] {
        assert!(ignoring[0].contains(f), "{f} not named: {}", ignoring[0]);
    }
    assert!(
        log.contains("--collector.filesystem.ignored-mount-points is DEPRECATED"),
        "{log}"
    );
    assert!(
        log.contains("--collector.diskstats.ignored-devices is DEPRECATED"),
        "{log}"
    );
}

#[test]
fn unknown_flags_stay_fatal_and_h_is_help() {
    let (code, err) = run_to_exit(&["--collector.nonsense-flag=1"]);
    assert_eq!(code, Some(2), "{err:?}");
    assert!(err
        .join("\n")
        .contains("unknown flag --collector.nonsense-flag"));
    let out = Command::new(promlet_bin()).arg("-h").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--web.listen-address"));
}

/// `ts` as node_exporter writes it: RFC 3339, UTC, milliseconds.
fn is_rfc3339_millis(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 24
        && ts.ends_with('Z')
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && ts
            .bytes()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19, 23].contains(&i) || c.is_ascii_digit())
}

#[test]
fn logfmt_lines_carry_rfc3339_millisecond_timestamps() {
    let p = promlet(&[]);
    let log = wait_for(Duration::from_secs(10), || {
        let l = p.log_text();
        l.contains("listening on").then_some(l)
    })
    .expect("listening line");
    assert!(
        log.contains(&format!(
            "msg=\"starting promlet, version {}",
            env!("CARGO_PKG_VERSION")
        )),
        "{log}"
    );
    assert!(log.contains("enabled parts: "), "{log}");
    for line in log.lines() {
        let ts = line
            .strip_prefix("ts=")
            .and_then(|r| r.split(' ').next())
            .unwrap_or_else(|| panic!("not logfmt: {line}"));
        assert!(is_rfc3339_millis(ts), "{line}");
        assert!(
            line.contains(" level=info ") || line.contains(" level=warn "),
            "{line}"
        );
    }
}

#[test]
fn json_format_and_levels() {
    let p = promlet(&["--log.format=json", "--log.level=debug"]);
    let log = wait_for(Duration::from_secs(10), || {
        let l = p.log_text();
        l.contains("listening on").then_some(l)
    })
    .expect("listening line");
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(is_rfc3339_millis(v["ts"].as_str().unwrap()), "{line}");
        assert!(v["level"].is_string() && v["msg"].is_string(), "{line}");
    }
    assert!(log.contains("\"msg\":\"starting promlet, version"), "{log}");

    // warn hides info; error hides warn (so also the "listening on" line the harness reads:
    // these two get their port the old way).
    let quiet = |level: &str| {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let args = [
            format!("--log.level={level}"),
            "--collector.systemd".to_string(),
            format!("--web.listen-address={addr}"),
        ];
        spawn_listening(&promlet_bin(), &args, addr, "promlet")
    };
    let q = quiet("warn");
    let r = http_get(q.addr, "/metrics");
    assert_eq!(r.status, 200);
    let log = q.log_text();
    assert!(!log.contains("level=info"), "{log}");
    assert!(
        log.contains("level=warn"),
        "the ignored flag is a warning: {log}"
    );
    let q = quiet("error");
    assert_eq!(http_get(q.addr, "/metrics").status, 200);
    assert_eq!(q.log_text(), "", "nothing at error level");

    let (code, err) = run_to_exit(&["--log.level=verbose"]);
    assert_eq!(code, Some(2));
    assert!(
        err.join("\n").contains("debug, info, warn, error"),
        "{err:?}"
    );
}

#[test]
fn startup_error_is_one_line() {
    let (code, err) = run_to_exit(&[
        "--web.listen-address=127.0.0.1:0",
        "--web.telemetry-path=metrics",
    ]);
    assert_eq!(code, Some(1));
    let errors: Vec<&String> = err
        .iter()
        .filter(|l| l.contains("telemetry-path"))
        .collect();
    assert_eq!(errors.len(), 1, "{err:?}");
    assert!(errors[0].contains("level=error"), "{err:?}");
}

#[cfg(feature = "node")]
#[test]
fn collect_unknown_collector_is_400_like_node_exporter() {
    let p = promlet(&[]);
    let r = http_get(p.addr, "/metrics?collect[]=bogus");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text().trim_end(),
        "Couldn't create filtered metrics handler: couldn't create collector: missing collector: bogus"
    );
    // A node_exporter collector this build does not run is "disabled", as node_exporter says
    // of its own disabled ones.
    let r = http_get(p.addr, "/metrics?collect[]=cpu&collect[]=wifi");
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("disabled collector: wifi"),
        "{}",
        r.text()
    );
    let r = http_get(p.addr, "/metrics?collect[]=cpu");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("node_cpu_seconds_total"));

    // The same answers from node_exporter 1.5 itself.
    let ne = require_tool("prometheus-node-exporter", "prometheus-node-exporter");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let n = spawn_listening(
        &ne,
        &[
            format!("--web.listen-address={addr}"),
            "--no-collector.wifi".into(),
        ],
        addr,
        "node_exporter",
    );
    let r = http_get(n.addr, "/metrics?collect[]=bogus");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text().trim_end(),
        "Couldn't create filtered metrics handler: couldn't create collector: missing collector: bogus"
    );
}

#[cfg(feature = "proxy")]
#[test]
fn disable_exporter_metrics_drops_every_promlet_family() {
    let dir = tempdir("dropin-noself");
    std::fs::write(dir.join("up.prom"), "x 1\n").unwrap();
    let cfg = dir.join("promlet.json");
    std::fs::write(
        &cfg,
        format!(
            "{{\"proxy\": [{{\"path\": \"/m\", \"exporters\": [{{\"name\": \"f\", \"file\": \"{}\"}}]}}]}}",
            dir.join("up.prom").display()
        ),
    )
    .unwrap();
    let c = format!("--config.file={}", cfg.display());
    let p = promlet(&[&c]);
    assert_eq!(http_get(p.addr, "/m").status, 200);
    let text = http_get(p.addr, "/metrics").text();
    assert!(text.contains("promlet_proxy_scrapes_total"), "{text}");
    let q = promlet(&[&c, "--web.disable-exporter-metrics"]);
    assert_eq!(http_get(q.addr, "/m").status, 200);
    let text = http_get(q.addr, "/metrics").text();
    for line in text.lines() {
        let name = line
            .trim_start_matches("# HELP ")
            .trim_start_matches("# TYPE ");
        assert!(
            !name.starts_with("promlet_")
                && !name.starts_with("process_")
                && !name.starts_with("prometheus_"),
            "{line}"
        );
    }
}

#[cfg(feature = "proxy")]
#[test]
fn upstream_down_and_back_is_two_lines() {
    let dir = tempdir("dropin-state");
    let file = dir.join("later.prom");
    let cfg = dir.join("promlet.json");
    std::fs::write(
        &cfg,
        format!(
            "{{\"proxy\": [{{\"path\": \"/m\", \"exporters\": [{{\"name\": \"late\", \"file\": \"{}\"}}]}}]}}",
            file.display()
        ),
    )
    .unwrap();
    let p = promlet(&[&format!("--config.file={}", cfg.display())]);
    for _ in 0..5 {
        assert_eq!(http_get(p.addr, "/m").status, 200);
    }
    std::fs::write(&file, "late_metric 1\n").unwrap();
    for _ in 0..3 {
        assert!(http_get(p.addr, "/m").text().contains("late_metric"));
    }
    let log = p.log_text();
    let about: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("exporter late"))
        .collect();
    assert_eq!(about.len(), 2, "{log}");
    assert!(about[0].contains("is down: open "), "{log}");
    assert!(about[1].contains("is up again after 5 failures"), "{log}");
}

#[cfg(feature = "proxy")]
#[test]
fn child_stderr_is_logged_by_name_and_rate_limited() {
    let dir = tempdir("dropin-stderr");
    let sh = dir.join("chatty.sh");
    std::fs::write(
        &sh,
        "#!/bin/sh\ni=0\nwhile [ $i -lt 50 ]; do echo \"noise $i\" >&2; i=$((i+1)); done\necho 'chatty_metric 1'\n",
    )
    .unwrap();
    // Run through /bin/sh: exec'ing a file just written races with other tests' forks
    // holding it open (ETXTBSY).
    let cfg = dir.join("promlet.json");
    std::fs::write(
        &cfg,
        format!(
            "{{\"proxy\": [{{\"path\": \"/m\", \"exporters\": [{{\"name\": \"chatty\", \"exec\": [\"/bin/sh\", \"{}\"]}}]}}]}}",
            sh.display()
        ),
    )
    .unwrap();
    let p = promlet(&[&format!("--config.file={}", cfg.display())]);
    for _ in 0..3 {
        let t = http_get(p.addr, "/m").text();
        assert!(t.contains("chatty_metric"), "{t}\n{}", p.log_text());
    }
    let log = wait_for(Duration::from_secs(10), || {
        let l = p.log_text();
        l.contains("noise 19").then_some(l)
    })
    .unwrap_or_else(|| p.log_text());
    let noise: Vec<&str> = log.lines().filter(|l| l.contains("noise")).collect();
    assert_eq!(noise.len(), 20, "at most 20 lines a minute:\n{log}");
    assert!(
        noise[0].contains("exporter chatty: stderr: noise 0"),
        "{log}"
    );
}

/// Sends SIGHUP to promlet and waits until it has logged the outcome (`n`-th reload).
#[cfg(feature = "proxy")]
fn sighup(p: &Proc, n: usize) -> String {
    // SAFETY: kill(2) on our own child, which is not reaped while `p` lives.
    unsafe { libc::kill(p.child.id() as i32, libc::SIGHUP) };
    wait_for(Duration::from_secs(10), || {
        let l = p.log_text();
        let done = l.matches("configuration reloaded").count() + l.matches("reload failed").count();
        (done >= n).then_some(l)
    })
    .unwrap_or_else(|| panic!("no reload logged:\n{}", p.log_text()))
}

#[cfg(feature = "proxy")]
fn proxy_json(path: &str, name: &str, file: &str) -> String {
    format!(
        "{{\"proxy\": [{{\"path\": \"{path}\", \"exporters\": [{{\"name\": \"{name}\", \"file\": \"{file}\"}}]}}]}}"
    )
}

#[cfg(feature = "proxy")]
#[test]
fn sighup_reloads_the_config_and_a_bad_one_keeps_the_old() {
    let dir = tempdir("dropin-hup");
    std::fs::write(dir.join("a.prom"), "a_metric 1\n").unwrap();
    std::fs::write(dir.join("b.prom"), "b_metric 1\n").unwrap();
    let cfg = dir.join("promlet.json");
    // Relative file names: they follow the config file, not promlet's working directory.
    std::fs::write(&cfg, proxy_json("/m", "a", "a.prom")).unwrap();
    let mut p = promlet(&[&format!("--config.file={}", cfg.display())]);
    assert!(http_get(p.addr, "/m")
        .text()
        .contains("a_metric{exporter_name=\"a\"} 1"));

    std::fs::write(&cfg, proxy_json("/m", "b", "b.prom")).unwrap();
    sighup(&p, 1);
    let t = http_get(p.addr, "/m").text();
    assert!(
        t.contains("b_metric{exporter_name=\"b\"} 1") && !t.contains("a_metric"),
        "{t}"
    );

    // Broken file: logged, the running config keeps serving, promlet keeps running.
    std::fs::write(&cfg, "{\"proxy\": [").unwrap();
    let log = sighup(&p, 2);
    assert!(
        log.contains("reload failed, still serving the previous configuration"),
        "{log}"
    );
    assert!(http_get(p.addr, "/m").text().contains("b_metric"));
    // A clash with the telemetry path is refused the same way.
    std::fs::write(&cfg, proxy_json("/metrics", "b", "b.prom")).unwrap();
    sighup(&p, 3);
    assert!(http_get(p.addr, "/m").text().contains("b_metric"));
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "promlet died:\n{}",
        p.log_text()
    );
    assert!(!p.log_text().contains("Hangup"));
}

#[cfg(all(feature = "proxy", feature = "hdhomerun"))]
#[test]
fn route_clash_between_parts_is_fatal_at_start() {
    let dir = tempdir("dropin-clash");
    std::fs::write(dir.join("a.prom"), "a 1\n").unwrap();
    let cfg = dir.join("promlet.json");
    std::fs::write(&cfg, proxy_json("/hdhomerun", "a", "a.prom")).unwrap();
    let (code, err) = run_to_exit(&[
        "--web.listen-address=127.0.0.1:0",
        &format!("--config.file={}", cfg.display()),
    ]);
    assert_eq!(code, Some(1), "{err:?}");
    let err = err.join("\n");
    assert!(
        err.contains("route clash: proxy serves \\\"/hdhomerun\\\""),
        "{err}"
    );
}

#[cfg(all(feature = "proxy", feature = "http-sd"))]
#[test]
fn proxy_path_inside_http_sd_targets_is_a_clash() {
    let dir = tempdir("dropin-clash-sd");
    std::fs::create_dir_all(dir.join("tree")).unwrap();
    std::fs::write(dir.join("a.prom"), "a 1\n").unwrap();
    let cfg = dir.join("promlet.json");
    std::fs::write(&cfg, proxy_json("/targets/x", "a", "a.prom")).unwrap();
    let (code, err) = run_to_exit(&[
        "--web.listen-address=127.0.0.1:0",
        &format!("--config.file={}", cfg.display()),
        &format!("--http-sd.directory={}", dir.join("tree").display()),
    ]);
    assert_eq!(code, Some(1), "{err:?}");
    assert!(err.join("\n").contains("route clash"), "{err:?}");
}

#[cfg(feature = "proxy")]
#[test]
fn web_config_is_reread_when_it_changes_and_a_bad_one_is_kept_out() {
    let dir = tempdir("dropin-web");
    let web = dir.join("web.yml");
    std::fs::write(&web, "{}\n").unwrap();
    let p = promlet(&[&format!("--web.config.file={}", web.display())]);
    assert_eq!(http_get(p.addr, "/metrics").status, 200);

    let hash = bcrypt::hash_with_salt("secret", 4, [3u8; 16])
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    std::fs::write(
        &web,
        format!("{{\"basic_auth_users\": {{\"prom\": \"{hash}\"}}}}\n"),
    )
    .unwrap();
    // No SIGHUP: the change is seen on the next request, as exporter-toolkit does.
    assert_eq!(http_get(p.addr, "/metrics").status, 401);
    let auth = [("Authorization", "Basic cHJvbTpzZWNyZXQ=")];
    assert_eq!(http_request(p.addr, "GET", "/metrics", &auth).status, 200);

    // A broken file is logged and the previous config keeps serving.
    std::fs::write(&web, "{\"basic_auth_users\": {\"prom\": \"not-bcrypt\"}}\n").unwrap();
    assert_eq!(http_get(p.addr, "/metrics").status, 401);
    assert_eq!(http_request(p.addr, "GET", "/metrics", &auth).status, 200);
    assert!(
        p.log_text().contains("still serving the previous one"),
        "{}",
        p.log_text()
    );
}

#[cfg(feature = "http-sd")]
#[test]
fn http_sd_generators_import_from_the_tree_root() {
    let tree = tempdir("dropin-sd-lib");
    std::fs::create_dir_all(tree.join("_lib")).unwrap();
    std::fs::create_dir_all(tree.join("cloud/eu")).unwrap();
    std::fs::write(
        tree.join("_lib/helpers.py"),
        "def groups(zone):\n    return [{\"targets\": [\"node-\" + zone + \":9100\"], \"labels\": {\"zone\": zone}}]\n",
    )
    .unwrap();
    std::fs::write(
        tree.join("cloud/eu/inventory.py"),
        "from _lib import helpers\n\ndef generate_targets(**params):\n    return helpers.groups(params.get(\"zone\", \"eu\"))\n",
    )
    .unwrap();
    let p = promlet(&[&format!("--http-sd.directory={}", tree.display())]);
    let r = http_get(p.addr, "/targets/cloud?zone=eu1");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v[0]["targets"][0], "node-eu1:9100", "{v}");
}
