#!/usr/bin/env bash
# Tests `make install` into temporary DESTDIRs: the binary, both systemd units with ExecStart
# pointing at the installed binary, the default flag files (kept when already there), and that
# the installed units still pass `systemd-analyze verify`. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

bin=${PROMLET_BIN:-}
for b in target/x86_64-unknown-linux-musl/release/promlet target/debug/promlet; do
  [ -z "$bin" ] && [ -x "$b" ] && bin=$b
done
[ -n "$bin" ] || { echo "install test: no promlet binary: cargo build first" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() { # name command...
  local name=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    sed 's/^/    /' "$tmp/out"
    failed=$((failed + 1))
  fi
}

d=$tmp/usr
check "make install PREFIX=/usr SYSCONFDIR=/etc DESTDIR=..." make -s install PREFIX=/usr SYSCONFDIR=/etc DESTDIR="$d" BIN="$bin"
check "binary installed and runs" "$d/usr/bin/promlet" --version
check "unit in /usr/lib/systemd/system, ExecStart=/usr/bin/promlet" \
  grep -qx 'ExecStart=/usr/bin/promlet $ARGS' "$d/usr/lib/systemd/system/promlet.service"
check "packet-sd unit installed with its credential" \
  grep -qx 'LoadCredential=packet-authtoken:/etc/promlet/packet-authtoken' "$d/usr/lib/systemd/system/promlet-packet-sd.service"
check "default flags in /etc/default/promlet" grep -qx 'ARGS=""' "$d/etc/default/promlet"
check "default flags in /etc/default/promlet-packet-sd" test -f "$d/etc/default/promlet-packet-sd"
check "/etc/promlet exists (credential and config files)" test -d "$d/etc/promlet"

echo 'ARGS="--web.listen-address=127.0.0.1:9100"' >"$d/etc/default/promlet"
check "reinstall keeps an edited /etc/default/promlet" \
  bash -c "make -s install PREFIX=/usr SYSCONFDIR=/etc DESTDIR='$d' BIN='$bin' && grep -q 127.0.0.1 '$d/etc/default/promlet'"

l=$tmp/local
check "make install (PREFIX=/usr/local default) DESTDIR=..." make -s install DESTDIR="$l" BIN="$bin"
check "unit in /usr/local/lib/systemd/system, ExecStart=/usr/local/bin/promlet" \
  grep -qx 'ExecStart=/usr/local/bin/promlet $ARGS' "$l/usr/local/lib/systemd/system/promlet.service"
check "packet-sd ExecStart=/usr/local/bin/promlet" \
  grep -q '^ExecStart=/usr/local/bin/promlet packet-sd ' "$l/usr/local/lib/systemd/system/promlet-packet-sd.service"

check "PREFIX=/usr/local: flag files in /usr/local/etc (GNU sysconfdir), not /etc" \
  test -f "$l/usr/local/etc/default/promlet" -a ! -e "$l/etc"
check "PREFIX=/usr/local: the unit reads /usr/local/etc/default/promlet" \
  grep -qx 'EnvironmentFile=-/usr/local/etc/default/promlet' "$l/usr/local/lib/systemd/system/promlet.service"

# A temporary PREFIX without DESTDIR: every file lands under it and nothing outside it is
# touched (the places an install could stray to are searched for anything newer).
p=$tmp/prefix
marker=$tmp/marker
touch "$marker"
sleep 1
check "make install PREFIX=<tmp> (no DESTDIR)" make -s install PREFIX="$p" BIN="$bin"
check "PREFIX=<tmp>: binary, units and flag files under it" \
  test -x "$p/bin/promlet" -a -f "$p/lib/systemd/system/promlet.service" -a -f "$p/etc/default/promlet" -a -d "$p/etc/promlet"
check "PREFIX=<tmp>: nothing written outside it" \
  bash -c "out=\$(find /etc /usr/local /usr/lib/systemd /lib/systemd -xdev -newer '$marker' \\( -type f -o -type d \\) -path '*promlet*' 2>/dev/null); [ -z \"\$out\" ] || { echo \"\$out\"; exit 1; }"

# The installed units, with ExecStart pointed into the DESTDIR so the binary exists.
for u in promlet promlet-packet-sd; do
  sed "s|/usr/bin/promlet|$d/usr/bin/promlet|" "$d/usr/lib/systemd/system/$u.service" >"$tmp/$u.service"
  check "installed $u.service: systemd-analyze verify is clean" \
    bash -c "out=\$(systemd-analyze verify '$tmp/$u.service' 2>&1) && [ -z \"\$out\" ] || { echo \"\$out\"; exit 1; }"
done

echo "install: $passed passed, $failed failed"
[ "$failed" = 0 ]
