//! `promlet check DIR`: runs every generator of a target tree once, the way `serve` would (no
//! parameters; Python files run `test_generate_targets()` when they define it, like
//! prometheus-http-sd's `check`), and prints PASS/FAIL with each one's target count and the
//! total. Exit status 0 only if all pass, so CI can gate changes to a tree kept in git.
//! Unlike prometheus-http-sd's `check` it does not stop at the first failure and judges every
//! group, not only the last (docs/http-sd.md).

use std::path::Path;
use std::time::Instant;

use super::groups;
use super::run::Spawn;
use super::tree::{self, Found};
use crate::flags::{parse_duration, Spec};

const USAGE: &str = "promlet check [<flags>] DIR";

fn specs() -> Vec<Spec> {
    vec![
        Spec::repeated(
            "ignore-path",
            "Skip generators at or below this path (relative to DIR; -i for short).",
        ),
        Spec::value(
            "timeout",
            Some("30s"),
            "Time each generator program may run.",
        ),
        Spec::value(
            "python",
            Some("python3"),
            "Python interpreter for *.py generators.",
        ),
    ]
}

pub fn main(args: &[String]) -> i32 {
    // prometheus-http-sd spells the ignore flag `-i PATH`; the flag parser knows long flags only.
    let mut long = Vec::with_capacity(args.len());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-i" => long.push(format!("--ignore-path={}", it.next().map_or("", |s| s))),
            _ => long.push(a.clone()),
        }
    }
    let flags = match crate::flags::parse_command("promlet check", USAGE, specs(), long, "") {
        Ok(f) => f,
        Err(code) => return code,
    };
    let [dir] = flags.positional() else {
        eprintln!("promlet check: exactly one directory expected\nusage: {USAGE}");
        return 2;
    };
    let Some(timeout) = parse_duration(&flags.value("timeout").unwrap_or_default()) else {
        eprintln!("promlet check: --timeout: bad duration");
        return 2;
    };
    let root = match std::fs::canonicalize(dir) {
        Ok(r) if r.is_dir() => r,
        Ok(_) => {
            eprintln!("promlet check: {dir}: not a directory");
            return 2;
        }
        Err(e) => {
            eprintln!("promlet check: {dir}: {e}");
            return 2;
        }
    };
    let ignores: Vec<String> = flags
        .values("ignore-path")
        .iter()
        .map(|p| relative_to(p, Path::new(dir), &root))
        .collect();
    let python = flags.value("python").unwrap_or_else(|| "python3".into());
    let spawn = Spawn {
        python: &python,
        timeout,
        test: true,
        root: &root,
    };
    let mut found = Vec::new();
    let start = tree::Start {
        path: root.clone(),
        real: root.clone(),
        rel: String::new(),
    };
    tree::walk(&root, &start, &tree::Listings::default(), &mut found);
    let (mut pass, mut fail, mut total) = (0usize, 0usize, 0usize);
    for f in found {
        let name = match &f {
            Found::Generator(g) => g.rel.to_string(),
            Found::Broken(n, _) | Found::Skipped(n) => n.to_string(),
            Found::Dir(_) => continue,
        };
        if ignores
            .iter()
            .any(|i| name == *i || name.starts_with(&format!("{i}/")))
        {
            continue;
        }
        match f {
            Found::Generator(g) => {
                let t = Instant::now();
                match super::produce(&g, &[], &spawn) {
                    Ok(gs) => {
                        let n: usize = gs.iter().map(|g| g.targets.len()).sum();
                        println!(
                            "PASS {name}: {n} targets in {} groups ({:.3}s)",
                            gs.len(),
                            t.elapsed().as_secs_f64()
                        );
                        for t in groups::targets_without_port(&gs) {
                            println!("WARN {name}: target {t:?} has no port");
                        }
                        pass += 1;
                        total += n;
                    }
                    Err(e) => {
                        println!("FAIL {name}: {e}");
                        // The whole stderr tail (a traceback) helps more here than on HTTP.
                        if let super::Error::Exit(_, tail) = &e {
                            if tail.lines().count() > 1 {
                                for l in tail.lines() {
                                    println!("    {l}");
                                }
                            }
                        }
                        fail += 1;
                    }
                }
            }
            Found::Broken(_, e) => {
                println!("FAIL {name}: {e}");
                fail += 1;
            }
            Found::Skipped(_) => println!(
                "SKIP {name}: not a generator (not .json, .yaml, .yml or .py, and not executable)"
            ),
            Found::Dir(_) => {}
        }
    }
    println!(
        "{}: {} generators, {pass} passed, {fail} failed; {total} targets in total",
        if fail == 0 { "PASS" } else { "FAIL" },
        pass + fail
    );
    i32::from(fail > 0)
}

/// An ignore path as given (relative to DIR, or spelled with DIR or the canonical root in
/// front, as prometheus-http-sd's full-path prefixes are), relative to the root.
fn relative_to(p: &str, dir: &Path, root: &Path) -> String {
    let path = Path::new(p);
    let rel = path
        .strip_prefix(root)
        .or_else(|_| path.strip_prefix(dir))
        .unwrap_or(path);
    rel.to_string_lossy().trim_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_paths_are_relative_to_the_root() {
        let root = Path::new("/srv/targets");
        assert_eq!(relative_to("a/skip", Path::new("t"), root), "a/skip");
        assert_eq!(relative_to("t/a/skip/", Path::new("t"), root), "a/skip");
        assert_eq!(relative_to("/srv/targets/a", Path::new("t"), root), "a");
    }
}
