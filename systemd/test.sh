#!/usr/bin/env bash
# Checks the systemd units: `systemd-analyze verify` prints nothing and
# `systemd-analyze security --offline=yes` rates each unit's exposure at 2.0 or lower.
#
# verify insists that ExecStart's binary exists, so the test checks copies of the units in which
# /usr/bin/promlet is replaced by a binary that exists here ($PROMLET_BIN, else the built one).
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

command -v systemd-analyze >/dev/null || { echo "systemd test: needs systemd-analyze (Debian systemd)" >&2; exit 1; }
bin=${PROMLET_BIN:-}
if [ -z "$bin" ]; then
  for b in target/debug/promlet target/release/promlet target/x86_64-unknown-linux-musl/release/promlet; do
    [ -x "$b" ] && { bin=$PWD/$b; break; }
  done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "systemd test: no promlet binary: cargo build first (or set PROMLET_BIN)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() { # name, command...
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

# "Clean": verify succeeds and says nothing at all (warnings count as failures).
verify_clean() {
  systemd-analyze verify "$1" 2>&1 | tee "$tmp/verify"
  [ "${PIPESTATUS[0]}" = 0 ] && [ ! -s "$tmp/verify" ]
}

# --threshold is in tenths: 20 means an overall exposure of 2.0.
security() {
  systemd-analyze security --offline=yes --threshold=20 --no-pager "$1" >"$tmp/security" 2>&1
  local rc=$?
  grep 'Overall exposure' "$tmp/security" || cat "$tmp/security"
  [ $rc = 0 ] && grep -q 'Overall exposure' "$tmp/security"
}

for u in promlet.service promlet-packet-sd.service; do
  sed "s|/usr/bin/promlet|$bin|" "systemd/$u" >"$tmp/$u"
  check "$u: systemd-analyze verify is clean" verify_clean "$tmp/$u"
  check "$u: $(security "$tmp/$u" | sed 's/.*: //')" security "$tmp/$u"
done
# Push mode's drop-in (systemd/promlet-push.conf), as it is installed: verify reads drop-ins
# from <unit>.d/ next to the unit file, so a bad key in it fails the check.
mkdir -p "$tmp/promlet.service.d"
cp systemd/promlet-push.conf "$tmp/promlet.service.d/push.conf"
check "promlet.service + promlet-push.conf: systemd-analyze verify is clean" verify_clean "$tmp/promlet.service"
check "promlet.service + promlet-push.conf: $(security "$tmp/promlet.service" | sed 's/.*: //')" security "$tmp/promlet.service"
# The password_file the drop-in tells the config to name is where systemd puts its credential:
# /run/credentials/<unit>/<name> ($CREDENTIALS_DIRECTORY), a fixed path promlet reads as is.
cred=$(sed -n 's/^LoadCredential=\([^:]*\):.*/\1/p' systemd/promlet-push.conf)
check "promlet-push.conf: password_file is the credential's path" \
  grep -q "password_file: /run/credentials/promlet.service/$cred}" systemd/promlet-push.conf
check "README names the same credential path" \
  grep -q "/run/credentials/promlet.service/$cred" README.md
rm -r "$tmp/promlet.service.d"

# The token travels as a credential, never through the environment.
check "promlet-packet-sd.service: token via LoadCredential" \
  grep -qx 'LoadCredential=packet-authtoken:/etc/promlet/packet-authtoken' systemd/promlet-packet-sd.service
check "no token in the environment files" \
  bash -c '! grep -qi "authtoken\s*=\|PACKET_AUTH_TOKEN" systemd/*.default systemd/*.service'

echo "systemd: $passed passed, $failed failed"
[ "$failed" = 0 ]
