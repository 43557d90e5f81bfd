//! The `promlet` binary: everything lives in the library (`src/lib.rs`), so that the fuzz
//! targets under `fuzz/` reach the same parsers the binary runs.

/// The static builds allocate with dlmalloc: the malloc of the libc that zig links them with
/// rounds every allocation up to a power of two, keeps a slab per size class and thread, and
/// never gives memory back, which cost push mode much of its RSS.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(promlet::run(&args));
}
