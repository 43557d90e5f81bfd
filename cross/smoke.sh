#!/usr/bin/env bash
# Cross smoke test: every binary cross/build.sh made runs (foreign ones under Debian's
# qemu-user-static), serves /metrics on 127.0.0.1, and its output passes `promtool check metrics`.
#
#   cross/smoke.sh [target...]        targets: x86_64 aarch64 mipsel armv7 (default: all four)
#
# It tests what is in target/<triple>/release/promlet; `make test-cross` builds first. A missing
# binary, qemu or promtool is a failure, not a skip. Prints one line per target and a closing
# "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(x86_64 aarch64 mipsel armv7)

for tool in promtool curl; do
  command -v "$tool" >/dev/null || { echo "smoke: needs $tool: bash scripts/deps.sh" >&2; exit 1; }
done

work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
fail() {
  echo "FAIL $1: $2"
  [ -s "$work/log" ] && sed 's/^/    log: /' "$work/log" | tail -5
  failed=$((failed + 1))
}

smoke() { # short name
  local name=$1 triple qemu arch
  case "$name" in
    x86_64) triple=x86_64-unknown-linux-musl qemu='' arch=x86_64 ;;
    aarch64) triple=aarch64-unknown-linux-musl qemu=qemu-aarch64-static arch=aarch64 ;;
    mipsel) triple=mipsel-unknown-linux-musl qemu=qemu-mipsel-static arch=mips ;;
    armv7) triple=armv7-unknown-linux-musleabihf qemu=qemu-arm-static arch=arm ;;
    *) fail "$name" "unknown target (x86_64, aarch64, mipsel, armv7)"; return ;;
  esac
  local bin=${CARGO_TARGET_DIR:-target}/$triple/release/promlet
  [ -x "$bin" ] || { fail "$name" "no $bin: run cross/build.sh $name first"; return; }
  if [ -n "$qemu" ] && ! command -v "$qemu" >/dev/null; then
    fail "$name" "needs $qemu (Debian qemu-user-static)"
    return
  fi
  # Regression (mipsel static-pie SIGSEGV, see README): a zig-linked binary must be a plain
  # static executable (ELF type EXEC). In a static-pie, musl's start-up code adds the load base
  # to std's unresolved weak symbols (getrandom, __cxa_thread_atexit_impl), and std then calls
  # them at the load address.
  case "$name" in
    mipsel | armv7)
      if ! readelf -h "$bin" | grep -q 'Type:.*EXEC'; then
        fail "$name" "$bin is not a plain static executable (static-pie crashes, see README)"
        return
      fi
      ;;
  esac
  local start=$SECONDS
  : >"$work/log"
  # Port 0: the kernel picks a free port and promlet logs it, so there is no race for a port.
  $qemu "$bin" --web.listen-address=127.0.0.1:0 2>"$work/log" &
  pid=$!
  local addr=''
  for _ in $(seq 1 300); do # up to 30 s: qemu on a loaded 2-core machine can be slow to start
    addr=$(sed -n 's/.*msg="listening on \(127\.0\.0\.1:[0-9]*\)".*/\1/p' "$work/log" | head -1)
    [ -n "$addr" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$addr" ]; then
    if kill -0 "$pid" 2>/dev/null; then
      fail "$name" "did not log its listen address within 30 s"
    else
      wait "$pid"
      fail "$name" "exited with status $? before listening"
    fi
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
    return
  fi
  local ok=1
  # Twice: the second scrape is served by a reused worker thread with its thread-local encoder.
  for _ in 1 2; do
    if ! curl -sS --max-time 30 -o "$work/metrics" "http://$addr/metrics"; then
      fail "$name" "GET /metrics failed"; ok=0; break
    fi
  done
  if [ $ok = 1 ]; then
    # Exit 1 is invalid exposition; 3 means lint findings only, which are shown, not failed.
    promtool check metrics <"$work/metrics" >"$work/promtool" 2>&1
    case $? in
      0) ;;
      3) sed "s/^/    promtool lint ($name): /" "$work/promtool" ;;
      *) fail "$name" "promtool check metrics: $(head -3 "$work/promtool")"; ok=0 ;;
    esac
  fi
  # The binary really is the foreign one: build_info carries std's ARCH for the target.
  if [ $ok = 1 ] && ! grep -q "^promlet_build_info{.*goarch=\"$arch\"" "$work/metrics"; then
    fail "$name" "promlet_build_info has no goarch=\"$arch\""; ok=0
  fi
  if [ $ok = 1 ] && ! kill -0 "$pid" 2>/dev/null; then
    fail "$name" "died after serving"; ok=0
  fi
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
  if [ $ok = 1 ]; then
    echo "ok   $name: $(grep -vc '^#' "$work/metrics") samples from $addr under ${qemu:-the host}, $((SECONDS - start))s"
    passed=$((passed + 1))
  fi
}

for t in "${targets[@]}"; do
  smoke "$t"
done
echo "smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
