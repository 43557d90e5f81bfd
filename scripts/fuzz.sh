#!/usr/bin/env bash
# Runs promlet's fuzz targets (fuzz/, cargo-fuzz + libFuzzer) for a short fixed number of
# iterations each, as `make test` does in CI. Needs the nightly toolchain and cargo-fuzz;
# installs cargo-fuzz from crates.io when it is missing. Every target starts from its seeds
# (fuzz/seeds/<target>/) and the local corpus (fuzz/corpus/<target>/, not committed); a crash is
# saved under fuzz/artifacts/<target>/ and fails the run.
#
# RUNS=<n> gives every target n iterations; TARGETS="a b" runs only those targets.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: the nightly Rust toolchain is missing (cargo fuzz needs it):" >&2
  echo "fuzz:   rustup toolchain install nightly --profile minimal   (make deps tries this)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked
fi

# Iterations per target, so that each runs for seconds in CI (the targets differ in speed by
# a factor of a few; building the fuzz crate with ASAN takes longer than all runs together).
runs_of() {
  case "$1" in
    expfmt_parse) echo 40000 ;;
    proxy_config | pattern) echo 60000 ;;
    *) echo 100000 ;;
  esac
}

# One build of every target (in parallel); then the binaries are run directly, because each
# `cargo fuzz run` would check the build again (and rebuild promlet whenever its build script
# reruns).
cargo +nightly fuzz build
bin="fuzz/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
for target in ${TARGETS:-$(cargo +nightly fuzz list)}; do
  runs=${RUNS:-$(runs_of "$target")}
  echo "== fuzz $target ($runs runs)"
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  # -timeout: an input that takes 10 s is a hang (every parser here is linear), and fails.
  "$bin/$target" "fuzz/corpus/$target" "${seeds[@]}" -artifact_prefix="fuzz/artifacts/$target/" \
    -runs="$runs" -max_len=4096 -seed=1 -timeout=10
done
