//! HTTP SD through the built binary: target trees from `tests/fixtures/http-sd/` and trees made
//! per test, hostile paths, failing and hanging generators, caching, `promlet check`, and a
//! real Prometheus discovering targets through `http_sd_configs`.

#![cfg(feature = "http-sd")]

mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/http-sd")
}

fn serve(root: &Path, extra: &[&str]) -> Proc {
    let mut args = vec![format!("--http-sd.directory={}", root.display())];
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    promlet(&refs)
}

fn get(p: &Proc, path: &str) -> (u16, String) {
    let r = http_get(p.addr, path);
    (r.status, r.text())
}

fn json(p: &Proc, path: &str) -> serde_json::Value {
    let r = http_get(p.addr, path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.text()))
}

fn write_exec(path: &Path, script: &str) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

/// The answer for the whole `good` tree (which has YAML files).
#[cfg(feature = "yaml")]
const GOOD_TREE: &str = concat!(
    r#"[{"targets":["10.3.0.1:8080"],"labels":{"source":"python"}},"#,
    r#"{"targets":["10.1.0.1:9187"],"labels":{"app":"postgres","env":"prod"}},"#,
    r#"{"targets":["10.1.0.2:9187"],"labels":{"app":"postgres","env":"staging"}},"#,
    r#"{"targets":["10.1.0.3:9187"],"labels":{"app":"postgres","env":"prod"}},"#,
    r#"{"targets":["10.2.0.1:2379"],"labels":{"app":"etcd"}},"#,
    r#"{"targets":["10.0.0.1:9100","10.0.0.2:9100"],"labels":{"job":"node","unicode":"Zürich-東京"}},"#,
    r#"{"targets":["10.4.0.1:9100"],"labels":{"source":"exec"}}]"#
);

// The tree has YAML files; yaml_needs_the_feature covers a build without.
#[cfg(feature = "yaml")]
#[test]
fn whole_tree_in_path_order_without_redirect() {
    let p = serve(&fixtures().join("good"), &[]);
    for path in ["/targets", "/targets/", "/targets//"] {
        let r = http_get(p.addr, path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.text(), GOOD_TREE, "{path}");
    }
    // Same answer again (cached): deterministic, not completion order.
    assert_eq!(get(&p, "/targets").1, GOOD_TREE);
    let body = get(&p, "/targets").1;
    assert!(
        !body.contains("canary"),
        "ignored _ or . files served: {body}"
    );
}

#[cfg(feature = "yaml")]
#[test]
fn subtrees_and_single_files() {
    let p = serve(&fixtures().join("good"), &[]);
    let nested = json(&p, "/targets/nested");
    assert_eq!(nested.as_array().unwrap().len(), 4);
    assert_eq!(nested[3]["labels"]["app"], "etcd");
    assert_eq!(json(&p, "/targets/nested/"), nested);
    let one = json(&p, "/targets/nested/etcd.yml");
    assert_eq!(one.as_array().unwrap().len(), 1);
    // Not a directory and not a generator: a clear 404, not `[]`.
    let (st, body) = get(&p, "/targets/README.md");
    assert_eq!(st, 404, "{body}");
}

#[cfg(feature = "yaml")]
#[test]
fn yaml_anchors_and_merge_keys_resolve() {
    let p = serve(&fixtures().join("good/nested"), &[]);
    let v = json(&p, "/targets");
    assert_eq!(v[1]["labels"]["env"], "staging");
    assert_eq!(v[1]["labels"]["app"], "postgres");
    assert_eq!(v[2]["labels"], v[0]["labels"]);
}

#[test]
fn yaml_needs_the_feature() {
    let dir = tempdir("httpsd-yaml");
    std::fs::write(dir.join("a.yaml"), "- targets: ['a:1']\n").unwrap();
    let p = serve(&dir, &[]);
    let (st, body) = get(&p, "/targets");
    if cfg!(feature = "yaml") {
        assert_eq!(
            (st, body.as_str()),
            (200, r#"[{"targets":["a:1"],"labels":{}}]"#)
        );
    } else {
        assert_eq!(st, 500, "{body}");
        assert!(
            body.contains("a.yaml") && body.contains("yaml feature"),
            "{body}"
        );
    }
}

#[test]
fn query_params_reach_only_programs() {
    let dir = tempdir("httpsd-params");
    std::fs::copy(fixtures().join("good/static.json"), dir.join("static.json")).unwrap();
    std::fs::copy(fixtures().join("good/gen.py"), dir.join("gen.py")).unwrap();
    std::fs::copy(fixtures().join("good/_helpers.py"), dir.join("_helpers.py")).unwrap();
    std::fs::copy(fixtures().join("good/zz-exec"), dir.join("zz-exec")).unwrap();
    let p = serve(&dir, &[]);
    // prometheus-http-sd fails this request (TypeError in the JSON loader); here the static
    // file ignores the parameters and both programs get them.
    let v = json(&p, "/targets?zone=us1&rack=b%2F7&zone=ignored");
    assert_eq!(v[0]["labels"]["zone"], "us1");
    assert_eq!(v[0]["labels"]["rack"], "b/7");
    assert_eq!(v[1]["labels"]["job"], "node");
    assert!(v[1]["labels"].get("zone").is_none());
    assert_eq!(v[2]["labels"]["zone"], "us1");
    assert_eq!(v[2]["labels"]["rack"], "b/7");
    // No parameters: a separate cache entry, no labels from the previous request.
    let v = json(&p, "/targets");
    assert!(v[0]["labels"].get("zone").is_none(), "{v}");
    // Names that could look like options or are not identifiers are refused.
    assert_eq!(get(&p, "/targets?-rf=1").0, 400);
    assert_eq!(get(&p, "/targets?a%3Db=1").0, 400);
}

#[test]
fn empty_directory_is_an_empty_list() {
    let dir = tempdir("httpsd-empty");
    std::fs::create_dir_all(dir.join("none")).unwrap();
    let p = serve(&dir, &[]);
    assert_eq!(get(&p, "/targets"), (200, "[]".to_string()));
    assert_eq!(get(&p, "/targets/none"), (200, "[]".to_string()));
}

#[test]
fn unknown_ignored_and_traversal_paths_never_leave_the_root() {
    let p = serve(&fixtures().join("good"), &[]);
    for (path, want) in [
        ("/targets/nope", 404),
        ("/targets/_private", 404),
        ("/targets/.hidden", 404),
        ("/targets/.hidden/secret.json", 404),
        ("/targets/../outside", 400),
        ("/targets/../outside/canary.json", 400),
        ("/targets/%2e%2e/outside", 400),
        ("/targets/%2E%2E/outside/canary.json", 400),
        ("/targets/..%2foutside", 400),
        ("/targets/nested/..%2F..%2Foutside", 400),
        ("/targets/nested/%2e%2e/%2e%2e/outside", 400),
        ("/targets/./nested", 400),
        ("/targets//etc", 404),
        ("/targets/%2fetc", 404),
        ("/targets/%00", 400),
        ("/targets/%zz", 400),
    ] {
        let (st, body) = get(&p, path);
        assert_eq!(st, want, "{path}: {body}");
        assert!(!body.contains("canary"), "{path} served {body}");
    }
}

#[test]
fn symlinks_stay_inside_the_root() {
    let base = tempdir("httpsd-links");
    let root = base.join("root");
    std::fs::create_dir_all(root.join("in")).unwrap();
    std::fs::create_dir_all(root.join("out")).unwrap();
    std::fs::create_dir_all(root.join("dangling")).unwrap();
    std::fs::create_dir_all(root.join("dirlink")).unwrap();
    std::fs::write(base.join("canary.json"), r#"[{"targets":["canary:1"]}]"#).unwrap();
    std::fs::write(root.join("real.json"), r#"[{"targets":["real:1"]}]"#).unwrap();
    std::os::unix::fs::symlink("../real.json", root.join("in/link.json")).unwrap();
    std::os::unix::fs::symlink(base.join("canary.json"), root.join("out/link.json")).unwrap();
    std::os::unix::fs::symlink("missing.json", root.join("dangling/link.json")).unwrap();
    std::os::unix::fs::symlink(&base, root.join("dirlink/up")).unwrap();
    std::os::unix::fs::symlink(&base, root.join("escape")).unwrap();
    let p = serve(&root, &[]);
    assert_eq!(
        get(&p, "/targets/in"),
        (200, r#"[{"targets":["real:1"],"labels":{}}]"#.to_string())
    );
    for (path, file) in [
        ("/targets/out", "out/link.json"),
        ("/targets/dangling", "dangling/link.json"),
        ("/targets/dirlink", "dirlink/up"),
    ] {
        let (st, body) = get(&p, path);
        assert_eq!(st, 500, "{path}: {body}");
        assert!(
            body.contains(file) && !body.contains("canary:1"),
            "{path}: {body}"
        );
    }
    // A symlink as the requested path itself is resolved and refused when it leaves.
    let (st, body) = get(&p, "/targets/escape/canary.json");
    assert_eq!(st, 404, "{body}");
    let (st, body) = get(&p, "/targets");
    assert_eq!(st, 500);
    assert!(!body.contains("canary:1"));
}

/// (directory under broken/, file named in the error, text in the error)
const BROKEN: [(&str, &str, &str); 8] = [
    ("exit", "exit/fails", "cannot reach inventory API"),
    ("garbage", "garbage/garbage", "not a list of target groups"),
    ("wrong", "wrong/wrong", "invalid type"),
    ("badlabel", "badlabel/bad.json", "invalid label name"),
    ("null", "null/null.json", "not a list of target groups"),
    ("py", "py/raises.py", "RuntimeError: inventory down"),
    ("partial", "partial/b-bad.json", "invalid type"),
    ("extra", "extra/extra.json", "unknown field"),
];

#[test]
fn any_failing_generator_fails_the_whole_answer() {
    let p = serve(&fixtures().join("broken"), &[]);
    for (dir, file, text) in BROKEN {
        let r = http_get(p.addr, &format!("/targets/{dir}"));
        assert_eq!(r.status, 500, "{dir}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["generator"], file, "{dir}: {v}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.starts_with(file) && msg.contains(text), "{dir}: {msg}");
    }
    // Never a partial list: the good file beside the bad one is not served either.
    assert!(!get(&p, "/targets/partial").1.contains("good:1"));
    let (st, _) = get(&p, "/targets");
    assert_eq!(st, 500);
}

#[test]
fn hanging_generator_is_killed_with_its_child() {
    let root = tempdir("httpsd-hang");
    let pids = root.join("_pids");
    std::fs::create_dir_all(&pids).unwrap();
    write_exec(
        &root.join("hang"),
        "#!/bin/sh\nsleep 300 &\necho $! > _pids/child\necho $$ > _pids/parent\nsleep 300\n",
    );
    let p = serve(&root, &["--http-sd.timeout=1s"]);
    let t = Instant::now();
    let (st, body) = get(&p, "/targets");
    assert_eq!(st, 500, "{body}");
    assert!(
        body.contains("hang") && body.contains("timed out"),
        "{body}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
    for who in ["parent", "child"] {
        let pid = std::fs::read_to_string(pids.join(who)).unwrap();
        let stat = format!("/proc/{}/stat", pid.trim());
        // Gone, or a zombie waiting for init to reap it: either way not running.
        let dead = wait_for(Duration::from_secs(10), || {
            match std::fs::read_to_string(&stat) {
                Err(_) => Some(()),
                Ok(s) if s.rsplit(") ").next().is_some_and(|r| r.starts_with('Z')) => Some(()),
                Ok(_) => None,
            }
        });
        assert!(
            dead.is_some(),
            "{who} {} still runs after the timeout",
            pid.trim()
        );
    }
    // promlet still answers, and the failure shows in its metrics.
    let m = get(&p, "/metrics").1;
    assert!(
        m.contains(r#"promlet_http_sd_generator_failures_total{generator="hang"} 1"#),
        "{m}"
    );
}

#[test]
fn concurrent_requests_share_one_run() {
    let root = tempdir("httpsd-flight");
    std::fs::create_dir_all(root.join("_runs")).unwrap();
    write_exec(
        &root.join("slow"),
        "#!/bin/sh\necho \"$*\" >> _runs/log\nsleep 2\necho '[{\"targets\":[\"slow:1\"]}]'\n",
    );
    let p = serve(&root, &[]);
    let addr = p.addr;
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..20)
            .map(|_| {
                s.spawn(move || {
                    let r = http_get(addr, "/targets");
                    (r.status, r.text())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for a in &answers {
        assert_eq!(
            a,
            &(200, r#"[{"targets":["slow:1"],"labels":{}}]"#.to_string())
        );
    }
    assert_eq!(
        lines(&root.join("_runs/log")),
        1,
        "20 concurrent requests, runs:"
    );
    // Within the cache TTL: no new run.
    assert_eq!(get(&p, "/targets").0, 200);
    assert_eq!(lines(&root.join("_runs/log")), 1);
    // Another parameter set is another cache entry.
    assert_eq!(get(&p, "/targets?zone=eu").0, 200);
    assert_eq!(
        std::fs::read_to_string(root.join("_runs/log")).unwrap(),
        "\nzone=eu\n"
    );
    let m = get(&p, "/metrics").1;
    assert!(
        m.contains(r#"promlet_http_sd_generator_runs_total{generator="slow"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(r#"promlet_http_sd_generator_cache_hits_total{generator="slow"} 20"#),
        "{m}"
    );
}

#[test]
fn cache_and_error_cache_ttls() {
    let root = tempdir("httpsd-ttl");
    std::fs::create_dir_all(root.join("ok")).unwrap();
    std::fs::create_dir_all(root.join("bad")).unwrap();
    std::fs::create_dir_all(root.join("_runs")).unwrap();
    write_exec(
        &root.join("ok/gen"),
        "#!/bin/sh\necho run >> ../_runs/ok\necho '[]'\n",
    );
    write_exec(
        &root.join("bad/gen"),
        "#!/bin/sh\necho run >> ../_runs/bad\nexit 1\n",
    );
    // Cache off for results, errors kept a minute.
    let p = serve(
        &root,
        &["--http-sd.cache-ttl=0s", "--http-sd.error-cache-ttl=60s"],
    );
    for _ in 0..3 {
        assert_eq!(get(&p, "/targets/ok").0, 200);
        assert_eq!(get(&p, "/targets/bad").0, 500);
    }
    assert_eq!(lines(&root.join("_runs/ok")), 3);
    assert_eq!(lines(&root.join("_runs/bad")), 1);
    drop(p);
    // Defaults: results cached, errors not.
    let p = serve(&root, &[]);
    for _ in 0..3 {
        assert_eq!(get(&p, "/targets/ok").0, 200);
        assert_eq!(get(&p, "/targets/bad").0, 500);
    }
    assert_eq!(lines(&root.join("_runs/ok")), 4);
    assert_eq!(lines(&root.join("_runs/bad")), 4);
}

#[test]
fn files_changed_between_requests_are_reread() {
    let root = tempdir("httpsd-change");
    let f = root.join("a.json");
    std::fs::write(&f, r#"[{"targets":["one:1"]}]"#).unwrap();
    let p = serve(&root, &[]);
    assert_eq!(
        get(&p, "/targets").1,
        r#"[{"targets":["one:1"],"labels":{}}]"#
    );
    // Same size, new content.
    std::fs::write(&f, r#"[{"targets":["two:2"]}]"#).unwrap();
    assert_eq!(
        get(&p, "/targets").1,
        r#"[{"targets":["two:2"],"labels":{}}]"#
    );
    // Broken, then fixed.
    std::fs::write(&f, r#"[{"targets":["#).unwrap();
    let (st, body) = get(&p, "/targets");
    assert_eq!(st, 500, "{body}");
    assert!(body.contains("a.json"), "{body}");
    std::fs::write(&f, r#"[{"targets":["three:3"],"labels":{"x":"y"}}]"#).unwrap();
    assert_eq!(
        get(&p, "/targets").1,
        r#"[{"targets":["three:3"],"labels":{"x":"y"}}]"#
    );
    // Replaced by rename (how editors and config management write), added, removed.
    std::fs::write(root.join("tmp"), r#"[{"targets":["four:4"]}]"#).unwrap();
    std::fs::rename(root.join("tmp"), &f).unwrap();
    std::fs::write(root.join("b.json"), r#"[{"targets":["b:1"]}]"#).unwrap();
    assert_eq!(
        get(&p, "/targets").1,
        r#"[{"targets":["four:4"],"labels":{}},{"targets":["b:1"],"labels":{}}]"#
    );
    std::fs::remove_file(&f).unwrap();
    assert_eq!(
        get(&p, "/targets").1,
        r#"[{"targets":["b:1"],"labels":{}}]"#
    );
    // A symlink's target in an ignored directory (not listed, still watched for changes).
    std::fs::create_dir_all(root.join("_data")).unwrap();
    // Old mtimes, so the content cache trusts the stamps (no "racy" re-read hides a miss).
    let write_old = |path: &Path, body: &str, age: u64| {
        std::fs::write(path, body).unwrap();
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(std::time::SystemTime::now() - Duration::from_secs(age))
            .unwrap();
    };
    write_old(
        &root.join("_data/real.json"),
        r#"[{"targets":["r:1"]}]"#,
        3600,
    );
    std::os::unix::fs::symlink("_data/real.json", root.join("c.json")).unwrap();
    assert_eq!(
        get(&p, "/targets").1,
        r#"[{"targets":["b:1"],"labels":{}},{"targets":["r:1"],"labels":{}}]"#
    );
    assert!(get(&p, "/targets").1.contains("r:1"));
    write_old(
        &root.join("_data/real.json"),
        r#"[{"targets":["r:2"]}]"#,
        1800,
    );
    assert!(get(&p, "/targets").1.contains("r:2"));
    // A file requested by name: its directory is watched although never listed.
    std::fs::create_dir_all(root.join("sub")).unwrap();
    write_old(&root.join("sub/one.json"), r#"[{"targets":["s:1"]}]"#, 3600);
    assert!(get(&p, "/targets/sub/one.json").1.contains("s:1"));
    write_old(&root.join("sub/one.json"), r#"[{"targets":["s:2"]}]"#, 1800);
    assert!(get(&p, "/targets/sub/one.json").1.contains("s:2"));
    std::fs::remove_dir_all(root.join("sub")).unwrap();
    // chmod +x turns a plain file into a generator.
    let d = root.join("d");
    std::fs::write(&d, "#!/bin/sh\necho '[{\"targets\":[\"d:1\"]}]'\n").unwrap();
    assert!(!get(&p, "/targets").1.contains("d:1"));
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(get(&p, "/targets").1.contains("d:1"));
    // A changed program is run again even within its cache TTL.
    write_exec(
        &root.join("gen"),
        "#!/bin/sh\necho '[{\"targets\":[\"g:1\"]}]'\n",
    );
    assert!(get(&p, "/targets").1.contains("g:1"));
    write_exec(
        &root.join("gen"),
        "#!/bin/sh\necho '[{\"targets\":[\"g:22\"]}]'\n",
    );
    assert!(get(&p, "/targets").1.contains("g:22"));
}

// The tree's YAML files fail the request in a build without yaml.
#[cfg(feature = "yaml")]
#[test]
fn debug_reports_each_generators_run_time() {
    let root = fixtures().join("good");
    let p = serve(&root, &[]);
    let v = json(&p, "/targets?debug=true");
    let times = v["generator_run_seconds"]
        .as_object()
        .expect("generator_run_seconds");
    let canon = std::fs::canonicalize(&root).unwrap();
    let want = [
        "gen.py",
        "nested/anchors.yaml",
        "nested/etcd.yml",
        "static.json",
        "zz-exec",
    ];
    assert_eq!(times.len(), want.len(), "{v}");
    for w in want {
        let k = canon.join(w).display().to_string();
        assert!(times[&k].as_f64().unwrap() >= 0.0, "{k} in {v}");
    }
    // debug=1 is an ordinary parameter, like prometheus-http-sd.
    let v = json(&p, "/targets?debug=1");
    assert!(v.is_array());
}

#[test]
fn missing_python_is_a_clear_error() {
    let dir = tempdir("httpsd-nopython");
    std::fs::copy(fixtures().join("good/gen.py"), dir.join("gen.py")).unwrap();
    let p = serve(&dir, &["--http-sd.python=/nonexistent/python3"]);
    let (st, body) = get(&p, "/targets");
    assert_eq!(st, 500);
    assert!(
        body.contains("gen.py") && body.contains("cannot run"),
        "{body}"
    );
}

#[test]
fn url_prefix_and_index_page() {
    let root = fixtures().join("good");
    let p = serve(&root, &["--http-sd.url-prefix=/sd/"]);
    assert_eq!(
        get(&p, "/sd/targets/nested/etcd.yml").0,
        if cfg!(feature = "yaml") { 200 } else { 500 }
    );
    assert_eq!(get(&p, "/targets").0, 404);
    for page in ["/sd/", "/sd", "/sd/targets-index"] {
        let (st, html) = get(&p, page);
        assert_eq!(st, 200, "{page}");
        // Every target path with the number of generators it runs.
        assert!(
            html.contains(r#"<a href="/sd/targets/">/sd/targets/</a></td><td align="right">5<"#),
            "{html}"
        );
        assert!(
            html.contains(
                r#"<a href="/sd/targets/nested">/sd/targets/nested</a></td><td align="right">2<"#
            ),
            "{html}"
        );
        assert!(
            !html.contains("_private") && !html.contains(".hidden"),
            "{html}"
        );
    }
    let landing = get(&p, "/").1;
    assert!(landing.contains("/sd/targets-index"), "{landing}");
}

#[test]
fn metrics_are_bounded_by_the_tree_and_pass_promtool() {
    let p = serve(&fixtures().join("broken"), &[]);
    for path in [
        "/targets/exit",
        "/targets/garbage-from-a-client",
        "/targets/%2e%2e/x",
        "/targets/null?evil=1",
    ] {
        get(&p, path);
    }
    let m = get(&p, "/metrics").1;
    promtool_check_metrics(&m);
    assert!(
        m.contains(r#"promlet_http_sd_generator_runs_total{generator="exit/fails"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"promlet_http_sd_generator_failures_total{generator="null/null.json"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"promlet_http_sd_generator_duration_seconds_count{generator="exit/fails"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"promlet_http_sd_requests_total{code="404"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"promlet_http_sd_requests_total{code="400"} 1"#),
        "{m}"
    );
    assert!(
        !m.contains("garbage-from-a-client") && !m.contains("evil"),
        "client input in labels:\n{m}"
    );
}

fn check(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(promlet_bin())
        .arg("check")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn check_reports_every_generator_and_the_total() {
    let good = fixtures().join("good");
    let (code, out) = check(&[good.to_str().unwrap()]);
    if cfg!(feature = "yaml") {
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("PASS static.json: 2 targets"), "{out}");
        assert!(out.contains("PASS nested/anchors.yaml: 3 targets"), "{out}");
        assert!(out.contains("PASS gen.py: 1 targets"), "{out}");
        assert!(out.contains("SKIP README.md"), "{out}");
        assert!(
            out.contains("5 generators, 5 passed, 0 failed; 8 targets in total"),
            "{out}"
        );
    } else {
        assert_eq!(code, 1, "{out}");
    }
    assert!(!out.contains("secret"), "{out}");

    let broken = fixtures().join("broken");
    let (code, out) = check(&[broken.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    for (_, file, text) in BROKEN {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("FAIL {file}:")))
            .unwrap_or_else(|| panic!("no FAIL line for {file}:\n{out}"));
        assert!(line.contains(text), "{line}");
    }
    assert!(out.contains("PASS partial/a-good.json: 1 targets"), "{out}");
    assert!(out.contains("9 generators, 1 passed, 8 failed"), "{out}");

    // Ignoring every failing directory (-i as in prometheus-http-sd) makes it pass.
    let mut args = vec![broken.to_str().unwrap().to_string()];
    for (dir, _, _) in BROKEN {
        if dir != "partial" {
            args.extend(["-i".to_string(), dir.to_string()]);
        }
    }
    args.extend([
        "--ignore-path".to_string(),
        "partial/b-bad.json".to_string(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = check(&refs);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("1 generators, 1 passed, 0 failed; 1 targets in total"),
        "{out}"
    );

    let (code, _) = check(&["/nonexistent-dir"]);
    assert_eq!(code, 2);
}

#[test]
fn check_runs_test_generate_targets() {
    let dir = tempdir("httpsd-check-py");
    std::fs::write(
        dir.join("gen.py"),
        "def generate_targets(**kw):\n    raise RuntimeError('needs the API')\n\ndef test_generate_targets():\n    return [{'targets': ['t:1', 't:2', 'noport']}]\n",
    )
    .unwrap();
    let (code, out) = check(&[dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASS gen.py: 3 targets"), "{out}");
    assert!(
        out.contains(r#"WARN gen.py: target "noport" has no port"#),
        "{out}"
    );
}

#[test]
fn prometheus_discovers_targets_and_labels() {
    let root = tempdir("httpsd-prom");
    let p = serve(&root, &[]);
    let addr = p.addr.to_string();
    std::fs::create_dir_all(root.join("us")).unwrap();
    std::fs::write(
        root.join("us/hosts.json"),
        format!(r#"[{{"targets":["{addr}"],"labels":{{"region":"us","team":"sre"}}}}]"#),
    )
    .unwrap();
    write_exec(
        &root.join("eu/gen"),
        &format!(
            "#!/bin/sh\nzone=none\nfor a in \"$@\"; do case $a in zone=*) zone=${{a#zone=}};; esac; done\n\
             echo '[{{\"targets\":[\"{addr}\"],\"labels\":{{\"region\":\"eu\",\"zone\":\"'$zone'\"}}}}]'\n"
        ),
    );
    let prom = Prometheus::start(&format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sd-all
    http_sd_configs:
      - url: http://{addr}/targets
        refresh_interval: 1s
  - job_name: sd-eu
    http_sd_configs:
      - url: http://{addr}/targets/eu?zone=eu-west
        refresh_interval: 1s
"#
    ));
    let mut seen = Vec::new();
    let found = wait_for(Duration::from_secs(60), || {
        // 503 until Prometheus is ready.
        let r = http_get(prom.proc.addr, "/api/v1/targets");
        let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
        seen = v["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let labels: Vec<String> = seen
            .iter()
            .map(|t| {
                let l = &t["labels"];
                format!(
                    "{} {} {}",
                    l["job"].as_str().unwrap_or(""),
                    l["region"].as_str().unwrap_or(""),
                    l["zone"].as_str().unwrap_or("-")
                )
            })
            .collect();
        let want = ["sd-all us -", "sd-all eu none", "sd-eu eu eu-west"];
        (labels.len() == 3 && want.iter().all(|w| labels.iter().any(|l| l == w))).then_some(())
    });
    assert!(
        found.is_some(),
        "prometheus targets: {seen:#?}\n{}",
        prom.proc.log_text()
    );
    for t in &seen {
        assert_eq!(t["labels"]["instance"], addr.as_str());
        let meta = t["discoveredLabels"]["__meta_url"].as_str().unwrap();
        assert!(
            meta.starts_with(&format!("http://{addr}/targets")),
            "{meta}"
        );
    }
    // The discovered targets are scraped: promlet's own /metrics, with the SD labels.
    let up = prom.wait_query(
        r#"up{job="sd-eu",zone="eu-west"} == 1"#,
        Duration::from_secs(60),
    );
    assert_eq!(up.len(), 1);
    let m = get(&p, "/metrics").1;
    promtool_check_metrics(&m);
}

#[test]
fn programs_under_one_path_run_side_by_side() {
    // Each program waits until all three have started: run one after another, the first
    // would give up after 20 s and fail the request.
    let root = tempdir("httpsd-parallel");
    std::fs::create_dir_all(root.join("_started")).unwrap();
    for name in ["a", "b", "c"] {
        write_exec(
            &root.join(name),
            &format!(
                "#!/bin/sh\ntouch _started/{name}\ni=0\n\
                 while [ \"$(ls _started | wc -l)\" -lt 3 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done\n\
                 [ \"$(ls _started | wc -l)\" -ge 3 ] || exit 1\n\
                 echo '[{{\"targets\":[\"{name}:1\"]}}]'\n"
            ),
        );
    }
    let p = serve(&root, &[]);
    let (st, body) = get(&p, "/targets");
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body,
        r#"[{"targets":["a:1"],"labels":{}},{"targets":["b:1"],"labels":{}},{"targets":["c:1"],"labels":{}}]"#
    );
}

/// A generator that records how many runs of it are in progress (in `_runs/counts`) and
/// then waits until `_runs/gate` exists.
const GATED: &str = "#!/bin/sh\ntouch _runs/running.$$\nls _runs | grep -c '^running\\.' >> _runs/counts\n\
    while [ ! -e _runs/gate ]; do sleep 0.05; done\nrm _runs/running.$$\necho '[{\"targets\":[\"g:1\"]}]'\n";

/// `--http-sd.max-concurrent-runs` caps generator programs over all requests: distinct
/// parameter sets past the cap are answered 503 with Retry-After (Prometheus keeps its last
/// targets) instead of starting more children. 16 generators times 40 concurrent requests
/// used to start 320 children at once.
#[test]
fn concurrent_runs_are_capped_and_the_rest_get_503() {
    let root = tempdir("httpsd-cap");
    std::fs::create_dir_all(root.join("_runs")).unwrap();
    write_exec(&root.join("gated"), GATED);
    let p = serve(&root, &["--http-sd.max-concurrent-runs=2"]);
    let addr = p.addr;
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..10 {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let r = http_get(addr, &format!("/targets?x={i}"));
            let _ = tx.send((r.status, r.header("retry-after").map(str::to_string)));
        });
    }
    // The two that run wait for the gate; the other eight are refused at once.
    let mut answers = Vec::new();
    let until = Instant::now() + Duration::from_secs(20);
    while answers.len() < 8 {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(a) => answers.push(a),
            Err(_) => break,
        }
    }
    // Both admitted runs must have counted before the gate opens: a child that starts late
    // (a loaded machine) would otherwise find the first run gone and count only itself.
    let counted = wait_for(Duration::from_secs(20), || {
        let c = std::fs::read_to_string(root.join("_runs/counts")).unwrap_or_default();
        (c.lines().count() >= 2).then_some(())
    });
    assert!(
        counted.is_some(),
        "the two admitted runs did not both start"
    );
    std::fs::write(root.join("_runs/gate"), "").unwrap();
    while answers.len() < 10 {
        answers.push(rx.recv_timeout(Duration::from_secs(30)).expect("no answer"));
    }
    let counts = std::fs::read_to_string(root.join("_runs/counts")).unwrap();
    let most = counts
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .max();
    assert_eq!(
        most,
        Some(2),
        "runs in progress at once, seen by each run: {counts}"
    );
    assert_eq!(counts.lines().count(), 2, "{counts}");
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert_eq!(refused.len(), 8, "{answers:?}");
    assert!(
        refused.iter().all(|a| a.1.as_deref() == Some("5")),
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|a| a.0 == 200).count(),
        2,
        "{answers:?}"
    );
    // A request alone runs every generator of the tree, however many, within the cap.
    for n in 0..5 {
        write_exec(
            &root.join(format!("more{n}")),
            &format!("#!/bin/sh\necho '[{{\"targets\":[\"m{n}:1\"]}}]'\n"),
        );
    }
    let (status, body) = get(&p, "/targets?alone=1");
    assert_eq!(status, 200, "{body}");
    let m = get(&p, "/metrics").1;
    assert!(
        m.contains("promlet_http_sd_requests_total{code=\"503\"} 8\n"),
        "{m}"
    );
}

/// promlet's stop (SIGTERM) kills and reaps a generator still running, and its children.
#[test]
fn sigterm_ends_running_generators() {
    let root = tempdir("httpsd-sigterm");
    std::fs::create_dir_all(root.join("_runs")).unwrap();
    write_exec(
        &root.join("slow"),
        "#!/bin/sh\nsleep 300 & echo $! >> _runs/pids\necho $$ >> _runs/pids\nsleep 300\n",
    );
    let mut p = serve(&root, &[]);
    let addr = p.addr;
    std::thread::spawn(move || {
        let _ = std::panic::catch_unwind(|| http_get(addr, "/targets"));
    });
    let pids = root.join("_runs/pids");
    let listed = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&pids)
            .ok()
            .filter(|s| s.lines().count() == 2)
    })
    .expect("the generator did not start");
    // SAFETY: kill(2) on the promlet child this test started.
    unsafe { libc::kill(p.child.id() as libc::pid_t, libc::SIGTERM) };
    let status = wait_for(Duration::from_secs(20), || p.child.try_wait().unwrap())
        .expect("promlet did not stop on SIGTERM");
    assert!(status.success(), "{status}");
    let ended = |pid: &str| match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.contains(") Z "),
        Err(_) => true,
    };
    let gone = wait_for(Duration::from_secs(10), || {
        listed.lines().all(ended).then_some(())
    });
    assert!(gone.is_some(), "left behind: {listed}\n{}", p.log_text());
}
