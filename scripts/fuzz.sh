#!/usr/bin/env bash
# Runs promlet's fuzz targets (fuzz/, cargo-fuzz + libFuzzer) for a short fixed number of
# iterations, as `make test` does in CI. Needs the nightly toolchain and cargo-fuzz; installs
# cargo-fuzz from crates.io when it is missing. RUNS overrides the iteration count.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-200000}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: the nightly Rust toolchain is missing (cargo fuzz needs it):" >&2
  echo "fuzz:   rustup toolchain install nightly --profile minimal   (make deps tries this)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked
fi
for target in $(cargo +nightly fuzz list); do
  echo "== fuzz $target ($RUNS runs)"
  mkdir -p "fuzz/corpus/$target"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  cargo +nightly fuzz run "$target" "fuzz/corpus/$target" "${seeds[@]}" -- -runs="$RUNS" -max_len=4096 -seed=1
done
