//! The `promlet` binary: everything lives in the library (`src/lib.rs`), so that the fuzz
//! targets under `fuzz/` reach the same parsers the binary runs.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(promlet::run(&args));
}
