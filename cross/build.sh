#!/usr/bin/env bash
# Builds stripped, fully static musl binaries of promlet for routers and servers:
#
#   cross/build.sh [target...]        targets: x86_64 aarch64 mipsel armv7 (default: all four)
#
# Output: target/<triple>/release/promlet. FEATURES=a,b,c builds that feature set instead of the
# default (everything); `cross/size.sh` uses that. Each target says what it needs when a piece of
# the toolchain is missing and fails: `make deps` (scripts/deps.sh) installs all of it.
#
# How each target is built (the why is in README "Cross builds and size"): every target the
# same way, nightly -Zbuild-std (std built with the release profile and optimize_for_size, as
# the prebuilt one is not) and zig (PyPI `ziglang`) as C compiler and linker through
# cargo-zigbuild, +crt-static (.cargo/config.toml).
#   x86_64, aarch64   link-self-contained=no (zig's musl crt objects).
#   mipsel, armv7     panic=immediate-abort (router flash), no unwind tables; mipsel's .pdr
#                     removed with llvm-objcopy. mipsel is tier 3 (no prebuilt std);
#                     armv7-unknown-linux-musleabihf matches OpenWrt's ipq40xx/ipq806x.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1

# Where scripts/deps.sh puts zig and cargo-zigbuild (a venv, so the system Python stays clean).
CROSS_VENV=${CROSS_VENV:-$HOME/.cache/promlet-cross}
[ -x "$CROSS_VENV/bin/cargo-zigbuild" ] && export PATH="$CROSS_VENV/bin:$PATH"

# Our .cargo/config.toml sets per-target rustflags (+crt-static, link-self-contained=no);
# RUSTFLAGS from the environment would silently replace them.
if [ -n "${RUSTFLAGS:-}" ] || [ -n "${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
  echo "cross: unset RUSTFLAGS/CARGO_ENCODED_RUSTFLAGS: they would override .cargo/config.toml" >&2
  exit 2
fi

FEATURES=${FEATURES:-}
feature_args=()
[ -n "$FEATURES" ] && feature_args=(--no-default-features --features "$FEATURES")

triple_of() {
  case "$1" in
    x86_64 | x86_64-unknown-linux-musl) echo x86_64-unknown-linux-musl ;;
    aarch64 | aarch64-unknown-linux-musl) echo aarch64-unknown-linux-musl ;;
    mipsel | mipsel-unknown-linux-musl) echo mipsel-unknown-linux-musl ;;
    armv7 | armv7-unknown-linux-musleabihf) echo armv7-unknown-linux-musleabihf ;;
    *)
      echo "cross: unknown target $1 (x86_64, aarch64, mipsel, armv7)" >&2
      return 1
      ;;
  esac
}

missing() { # what, how to get it
  echo "cross: $CURRENT needs $1: $2" >&2
  exit 1
}

need_build_std() {
  rustup toolchain list | grep -q '^nightly' ||
    missing "a nightly toolchain (-Zbuild-std)" "rustup toolchain install nightly --profile minimal --component rust-src"
  [ -f "$(rustc +nightly --print sysroot)/lib/rustlib/src/rust/library/Cargo.lock" ] ||
    missing "the std sources (-Zbuild-std)" "rustup component add rust-src --toolchain nightly"
  command -v cargo-zigbuild >/dev/null ||
    missing "cargo-zigbuild (links with zig)" "bash scripts/deps.sh (pip install ziglang cargo-zigbuild into $CROSS_VENV)"
  need_zig
}

need_zig() {
  python3 -c 'import ziglang' 2>/dev/null || "$CROSS_VENV/bin/python3" -c 'import ziglang' 2>/dev/null ||
    missing "zig (PyPI ziglang)" "bash scripts/deps.sh (pip install ziglang into $CROSS_VENV)"
}

build() { # triple
  local t=$1 start=$SECONDS
  CURRENT=$t
  need_build_std
  local extra=()
  case "$t" in
    x86_64-unknown-linux-musl | aarch64-unknown-linux-musl)
      # zig brings musl's crt objects and libc; Rust's self-contained copies come only with a
      # prebuilt rust-std, which -Zbuild-std does not use.
      extra=(--config "target.$t.rustflags=[\"-C\", \"link-self-contained=no\"]")
      ;;
    mipsel-unknown-linux-musl | armv7-unknown-linux-musleabihf)
      # Router flash: a panic (a bug: nothing read from outside may panic) ends promlet at
      # once, with no message, so no panic message or location is compiled in. The x86_64
      # and aarch64 builds keep the message.
      extra=(-Zpanic-immediate-abort --config 'profile.release.panic="immediate-abort"')
      ;;
  esac
  echo "== cross: $t (nightly -Zbuild-std, zig${FEATURES:+, features $FEATURES})"
  # panic_abort: the release profile aborts on panic, so std is built without unwinding.
  # optimize_for_size builds std's own code for size too (smaller sort and formatting paths);
  # the figures table has what each target and feature set weighs.
  cargo +nightly zigbuild --locked --release --target "$t" "${feature_args[@]}" "${extra[@]}" \
    -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size
  local bin=${CARGO_TARGET_DIR:-target}/$t/release/promlet
  [ -f "$bin" ] || { echo "cross: $t: no $bin after the build" >&2; exit 1; }
  if [ "$t" = mipsel-unknown-linux-musl ]; then
    # LLVM writes a .pdr section (MIPS procedure descriptors, for old debuggers) for every
    # function, and lld's --strip-all keeps it: a large part of the binary that nothing reads.
    command -v llvm-objcopy >/dev/null || missing "llvm-objcopy (drops .pdr)" "apt-get install llvm"
    llvm-objcopy --remove-section=.pdr "$bin"
  fi
  check_static "$bin" "$t"
  printf 'cross: %s ok: %s bytes, %ss\n' "$t" "$(stat -c %s "$bin")" "$((SECONDS - start))"
}

# A router has no musl loader where a dynamic binary would look for one: insist on a static,
# stripped ELF. For the zig-linked targets also insist on a plain (non-PIE) executable: a
# static-pie from zig crashed at its first thread-local with a destructor (see README, "Why
# mipsel crashed"), and that is what a build without +crt-static quietly produces.
check_static() { # binary triple
  command -v file >/dev/null || missing "file(1) to check the binary" "apt-get install file"
  local desc
  desc=$(file -b "$1")
  echo "   $desc"
  case "$desc" in
    *"dynamically linked"* | *interpreter*) echo "cross: $1 is not static" >&2; exit 1 ;;
  esac
  case "$desc" in
    *"statically linked"* | *"static-pie linked"*) ;;
    *) echo "cross: $1: file(1) does not say static" >&2; exit 1 ;;
  esac
  case "$desc" in
    *"not stripped"* | *"with debug_info"*) echo "cross: $1 is not stripped" >&2; exit 1 ;;
  esac
  case "$2:$desc" in
    mipsel*:*pie* | armv7*:*pie*)
      echo "cross: $1 is a static-pie; zig-linked targets need +crt-static (.cargo/config.toml)" >&2
      exit 1
      ;;
  esac
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(x86_64 aarch64 mipsel armv7)
triples=()
for t in "${targets[@]}"; do
  triples+=("$(triple_of "$t")") || exit 2
done
for t in "${triples[@]}"; do
  build "$t"
done
