//! The merge rules on literal inputs: cases 1-14, 18, 19 and 26 of
//! `docs/merging-proxy.md` (the rest need processes or sockets: tests/proxy.rs).
//! Each output is also run through `promtool check metrics` (exit 1 fails).

use super::merge::{merge, Counts, Input};
use super::RESERVED;
use crate::expfmt::{parse_openmetrics, parse_text, Encoder, MetricFamily};

struct Ex<'a> {
    name: &'a str,
    text: &'a str,
    labels: Vec<(String, String)>,
    no_rewrite: bool,
}

fn ex<'a>(name: &'a str, text: &'a str) -> Ex<'a> {
    Ex {
        name,
        text,
        labels: Vec::new(),
        no_rewrite: false,
    }
}

fn run(exs: &[Ex<'_>]) -> (String, Vec<Counts>) {
    let fams: Vec<Vec<MetricFamily>> = exs
        .iter()
        .map(|e| parse_text(e.text).unwrap_or_else(|err| panic!("{}: {err}", e.name)))
        .collect();
    merge_families(exs, &fams)
}

fn merge_families(exs: &[Ex<'_>], fams: &[Vec<MetricFamily>]) -> (String, Vec<Counts>) {
    let inputs: Vec<Input<'_>> = exs
        .iter()
        .zip(fams)
        .map(|(e, f)| Input {
            name: e.name,
            labels: &e.labels,
            no_rewrite: e.no_rewrite,
            families: Some(f.as_slice()),
        })
        .collect();
    let mut enc = Encoder::new();
    let counts = merge(&mut enc, &inputs, RESERVED);
    let text = String::from_utf8(enc.into_bytes()).unwrap();
    promtool_ok(&text);
    // Same input, same output: the order is deterministic.
    let mut again = Encoder::new();
    merge(&mut again, &inputs, RESERVED);
    assert_eq!(text.as_bytes(), again.as_bytes());
    (text, counts)
}

#[allow(dead_code)]
#[path = "../../tests/common/promtool.rs"]
mod promtool;

fn promtool_ok(text: &str) {
    promtool::promtool_check_metrics(text);
}

/// Each family name heads exactly one block: its lines are contiguous.
fn assert_contiguous(text: &str) {
    let mut done: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let name = if let Some(r) = line.strip_prefix("# ") {
            r.split(' ').nth(1).unwrap_or("").to_string()
        } else {
            line.split(['{', ' ']).next().unwrap_or("").to_string()
        };
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| *b == current))
            .map(str::to_string)
            .unwrap_or(name);
        if base != current {
            assert!(
                !done.contains(&base),
                "{base} appears in two blocks:\n{text}"
            );
            done.push(std::mem::replace(&mut current, base));
        }
    }
}

#[test]
fn case01_same_family_from_two_exporters_is_one_block() {
    let t = "# HELP process_cpu_seconds_total CPU time.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.5\n";
    let (out, _) = run(&[ex("A", t), ex("B", t)]);
    assert_eq!(
        out,
        "# HELP process_cpu_seconds_total CPU time.\n# TYPE process_cpu_seconds_total counter\n\
         process_cpu_seconds_total{exporter_name=\"A\"} 1.5\nprocess_cpu_seconds_total{exporter_name=\"B\"} 1.5\n"
    );
}

#[test]
fn case02_help_conflict_keeps_the_first_exporters_help_and_counts() {
    let a = "# HELP x_total From A.\n# TYPE x_total counter\nx_total 1\n";
    let b = "# HELP x_total From B.\n# TYPE x_total counter\nx_total 2\n";
    let (out, c) = run(&[ex("A", a), ex("B", b)]);
    assert!(out.starts_with("# HELP x_total From A.\n# TYPE x_total counter\n"));
    assert_eq!(out.matches("# HELP").count(), 1);
    assert!(out.contains("x_total{exporter_name=\"B\"} 2\n"));
    assert_eq!((c[0].help_conflicts, c[1].help_conflicts), (0, 1));
}

#[test]
fn case03_type_conflict_drops_the_later_family_and_counts() {
    let a = "# TYPE foo gauge\nfoo 1\n";
    let b = "# TYPE foo counter\nfoo 2\n# TYPE bar gauge\nbar 3\n";
    let (out, c) = run(&[ex("A", a), ex("B", b)]);
    assert_eq!(out.matches("# TYPE foo").count(), 1);
    assert!(out.contains("# TYPE foo gauge\nfoo{exporter_name=\"A\"} 1\n"));
    assert!(!out.contains("foo{exporter_name=\"B\"}"));
    assert!(
        out.contains("bar{exporter_name=\"B\"} 3\n"),
        "B's other families stay"
    );
    assert_eq!(c[1].type_conflicts, 1);
}

#[test]
fn case04_sample_name_clash_between_families_is_detected() {
    let a = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n";
    let b = "# TYPE h_count gauge\nh_count 7\n";
    let (out, c) = run(&[ex("A", a), ex("B", b)]);
    assert!(!out.contains("h_count{exporter_name=\"B\"}"), "{out}");
    assert!(!out.contains("TYPE h_count"));
    assert_eq!(c[1].name_clashes, 1);
    // The other way round: the gauge came first, the histogram is the clash.
    let (out, c) = run(&[ex("B", b), ex("A", a)]);
    assert!(out.contains("h_count{exporter_name=\"B\"} 7\n"));
    assert!(!out.contains("h_bucket"));
    assert_eq!(c[1].name_clashes, 1);
}

#[test]
fn case05_upstream_exporter_name_is_replaced_once() {
    let (out, c) = run(&[ex("A", "m{exporter_name=\"x\",a=\"1\"} 1\n")]);
    assert!(out.contains("m{a=\"1\",exporter_name=\"A\"} 1\n"), "{out}");
    assert_eq!(out.matches("exporter_name").count(), 1);
    assert_eq!(c[0].relabelled, 1);
}

#[test]
fn case06_static_labels_override_upstream_and_labels_are_sorted() {
    let mut e = ex("A", "m{zz=\"1\",site=\"u\",aa=\"2\"} 1\n");
    e.labels = vec![("site".into(), "r1".into())];
    let (out, _) = run(&[e]);
    assert!(
        out.contains("m{aa=\"2\",exporter_name=\"A\",site=\"r1\",zz=\"1\"} 1\n"),
        "{out}"
    );
}

#[test]
fn case07_histograms_and_summaries_get_exporter_name_on_every_line() {
    let h = "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 1.5\nh_count 3\n\
             # HELP s S.\n# TYPE s summary\ns{quantile=\"0.5\"} 0.2\ns{quantile=\"0.9\"} 0.7\ns_sum 4\ns_count 9\n";
    let (out, _) = run(&[ex("A", h), ex("B", h)]);
    let want = "# HELP h H.\n# TYPE h histogram\n\
        h_bucket{exporter_name=\"A\",le=\"0.1\"} 1\nh_bucket{exporter_name=\"A\",le=\"1\"} 2\nh_bucket{exporter_name=\"A\",le=\"+Inf\"} 3\nh_sum{exporter_name=\"A\"} 1.5\nh_count{exporter_name=\"A\"} 3\n\
        h_bucket{exporter_name=\"B\",le=\"0.1\"} 1\nh_bucket{exporter_name=\"B\",le=\"1\"} 2\nh_bucket{exporter_name=\"B\",le=\"+Inf\"} 3\nh_sum{exporter_name=\"B\"} 1.5\nh_count{exporter_name=\"B\"} 3\n\
        # HELP s S.\n# TYPE s summary\n\
        s{exporter_name=\"A\",quantile=\"0.5\"} 0.2\ns{exporter_name=\"A\",quantile=\"0.9\"} 0.7\ns_sum{exporter_name=\"A\"} 4\ns_count{exporter_name=\"A\"} 9\n\
        s{exporter_name=\"B\",quantile=\"0.5\"} 0.2\ns{exporter_name=\"B\",quantile=\"0.9\"} 0.7\ns_sum{exporter_name=\"B\"} 4\ns_count{exporter_name=\"B\"} 9\n";
    assert_eq!(out, want);
}

#[test]
fn case08_escaping_round_trips_byte_exact() {
    let t = "# HELP e Back\\\\slash and\\nnewline, ünïcödé.\n# TYPE e gauge\ne{v=\"C:\\\\DIR \\\"q\\\" a\\nb ✓\"} 1\n";
    let fams = parse_text(t).unwrap();
    assert_eq!(fams[0].samples[0].labels[0].1, "C:\\DIR \"q\" a\nb ✓");
    assert_eq!(
        fams[0].help.as_deref(),
        Some("Back\\slash and\nnewline, ünïcödé.")
    );
    let (out, _) = run(&[ex("A", t)]);
    assert_eq!(
        out,
        "# HELP e Back\\\\slash and\\nnewline, ünïcödé.\n# TYPE e gauge\ne{exporter_name=\"A\",v=\"C:\\\\DIR \\\"q\\\" a\\nb ✓\"} 1\n"
    );
    // And back again: what we wrote parses to the same strings.
    let again = parse_text(&out).unwrap();
    assert_eq!(again[0].help, fams[0].help);
    assert_eq!(
        again[0].samples[0].labels[1].1,
        fams[0].samples[0].labels[0].1
    );
}

#[test]
fn case09_timestamps_are_kept_and_openmetrics_seconds_become_ms() {
    let (out, _) = run(&[ex("A", "m 1 1700000000123\n")]);
    assert!(
        out.contains("m{exporter_name=\"A\"} 1 1700000000123\n"),
        "{out}"
    );
    let om = parse_openmetrics("# TYPE g gauge\ng 2 1700000000.5\n# EOF\n").unwrap();
    let (out, _) = merge_families(&[ex("B", "")], &[om]);
    assert!(
        out.contains("g{exporter_name=\"B\"} 2 1700000000500\n"),
        "{out}"
    );
}

#[test]
fn case10_untyped_stays_untyped_and_om_types_map_to_004() {
    let (out, _) = run(&[ex("A", "plain 1\n# TYPE u untyped\nu 2\n")]);
    assert!(
        out.contains("# TYPE plain untyped\nplain{exporter_name=\"A\"} 1\n"),
        "{out}"
    );
    assert!(out.contains("# TYPE u untyped\n"));
    let om = parse_openmetrics(
        "# TYPE a unknown\na 1\n# TYPE b info\nb_info{v=\"1\"} 1\n# TYPE c stateset\nc{c=\"x\"} 1\n# EOF\n",
    )
    .unwrap();
    let (out, _) = merge_families(&[ex("A", "")], &[om]);
    assert!(out.contains("# TYPE a untyped\n"), "{out}");
    assert!(out.contains("# TYPE b_info gauge\n"), "{out}");
    assert!(out.contains("# TYPE c gauge\n"), "{out}");
}

#[test]
fn case11_families_without_samples_are_omitted() {
    let (out, _) = run(&[ex(
        "A",
        "# HELP empty Nothing.\n# TYPE empty gauge\n# TYPE x gauge\nx 1\n",
    )]);
    assert!(!out.contains("empty"), "{out}");
    assert!(out.contains("x{exporter_name=\"A\"} 1\n"));
}

#[test]
fn case12_interleaved_upstream_families_are_regrouped() {
    let (out, _) = run(&[ex(
        "A",
        "# TYPE foo_total counter\nfoo_total{a=\"1\"} 1\n# TYPE bar gauge\nbar 1\nfoo_total{a=\"2\"} 2\n",
    )]);
    assert_contiguous(&out);
    assert!(
        out.contains(
            "foo_total{a=\"1\",exporter_name=\"A\"} 1\nfoo_total{a=\"2\",exporter_name=\"A\"} 2\n"
        ),
        "{out}"
    );
}

#[test]
fn case13_duplicate_series_in_one_upstream_keeps_the_first() {
    let (out, c) = run(&[ex("A", "foo{a=\"1\",b=\"2\"} 1\nfoo{b=\"2\",a=\"1\"} 2\n")]);
    assert!(
        out.contains("foo{a=\"1\",b=\"2\",exporter_name=\"A\"} 1\n"),
        "{out}"
    );
    assert!(!out.contains("} 2\n"));
    assert_eq!(c[0].duplicates, 1);
}

#[test]
fn case14_no_rewrite_exporters_with_the_same_series_keep_the_first() {
    let mut a = ex("A", "shared{x=\"1\"} 1\n");
    let mut b = ex("B", "shared{x=\"1\"} 2\nonly_b 3\n");
    a.no_rewrite = true;
    b.no_rewrite = true;
    let (out, c) = run(&[a, b]);
    assert!(out.contains("shared{x=\"1\"} 1\n"), "{out}");
    assert!(!out.contains("shared{x=\"1\"} 2"));
    assert!(out.contains("only_b 3\n"));
    assert_eq!(c[1].duplicates, 1);
}

#[test]
fn case18_openmetrics_counter_becomes_total_family() {
    let om = parse_openmetrics(
        "# TYPE foo counter\n# HELP foo Foos.\nfoo_total 3\nfoo_created 1700000000\n# EOF\n",
    )
    .unwrap();
    let (out, _) = merge_families(&[ex("A", "")], &[om]);
    assert!(
        out.contains(
            "# HELP foo_total Foos.\n# TYPE foo_total counter\nfoo_total{exporter_name=\"A\"} 3\n"
        ),
        "{out}"
    );
    assert!(out.contains("# TYPE foo_created gauge\n"));
}

#[test]
fn case19_crlf_is_rejected_and_a_missing_final_newline_tolerated() {
    assert!(parse_text("# TYPE a gauge\r\na 1\r\n").is_err());
    assert!(parse_text("a 1\r\n").is_err());
    assert!(parse_openmetrics("a 1\r\n# EOF\r\n").is_err());
    let (out, _) = run(&[ex("A", "# TYPE a gauge\na 1")]);
    assert!(out.contains("a{exporter_name=\"A\"} 1\n"));
}

#[test]
fn case26_bare_up_gets_exporter_name_and_no_rewrite_refuses_it() {
    let t = "up 1\nscrape_duration_seconds 0.1\nother 1\n";
    let (out, _) = run(&[ex("A", t)]);
    assert!(out.contains("up{exporter_name=\"A\"} 1\n"), "{out}");
    let mut b = ex("B", t);
    b.no_rewrite = true;
    let (out, c) = run(&[b]);
    assert!(
        !out.lines()
            .any(|l| l.starts_with("up ") || l.starts_with("scrape_")),
        "{out}"
    );
    assert!(out.contains("other 1\n"));
    assert_eq!(c[0].refused, 2);
}

#[test]
fn own_metric_names_cannot_come_from_upstreams() {
    let (out, c) = run(&[ex("A", "promlet_exporter_up 1\nok 1\n")]);
    assert!(!out.contains("promlet_exporter_up"), "{out}");
    assert_eq!(c[0].name_clashes, 1);
}

#[test]
fn failed_exporter_contributes_nothing() {
    let fams = parse_text("a 1\n").unwrap();
    let inputs = [
        Input {
            name: "A",
            labels: &[],
            no_rewrite: false,
            families: None,
        },
        Input {
            name: "B",
            labels: &[],
            no_rewrite: false,
            families: Some(&fams),
        },
    ];
    let mut enc = Encoder::new();
    let c = merge(&mut enc, &inputs, RESERVED);
    assert_eq!(
        std::str::from_utf8(enc.as_bytes()).unwrap(),
        "# TYPE a untyped\na{exporter_name=\"B\"} 1\n"
    );
    assert_eq!((c[0].series, c[1].series), (0, 1));
}

#[test]
fn empty_label_values_count_as_absent() {
    let (out, c) = run(&[ex("A", "m{a=\"\"} 1\nm 2\n")]);
    assert_eq!(out, "# TYPE m untyped\nm{exporter_name=\"A\"} 1\n");
    assert_eq!(c[0].duplicates, 1);
}
