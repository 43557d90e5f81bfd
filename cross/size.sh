#!/usr/bin/env bash
# `make size`: the stripped, static size of promlet per target and feature set, as a Markdown
# table (pasted into README "Cross builds and size"), checked against the budgets.
#
#   cross/size.sh [target...]        targets: x86_64 aarch64 mipsel armv7 (default: all four)
#
# Feature sets: node only; the router set (node,router,hdhomerun,proxy,gzip: no tls, no yaml);
# the router set with push mode and TLS (a remote over the internet needs both); everything
# (default features). Each binary is kept as target/size/<triple>/<set>/promlet.
# Budgets: node only (node_exporter's whole default collector set) <= 900 KiB (x86_64), router
# set (with the router collectors) <= 1.3 MiB on x86_64 and mipsel, the router set with push
# and TLS <= 2.0 MiB on mipsel, everything <= 2.5 MiB on x86_64. A miss is reported in the
# table and makes the exit status 1 (the table is still printed).
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(x86_64 aarch64 mipsel armv7)
sets=(node router push full)
declare -A features=([node]="node" [router]="node,router,hdhomerun,proxy,gzip" [push]="node,router,hdhomerun,proxy,gzip,push,tls" [full]="")
declare -A budget=( # KiB, per target/set
  [x86_64/node]=900 [x86_64/router]=1331 [x86_64/full]=2560 [mipsel/router]=1331 [mipsel/push]=2048)

triple_of() {
  case "$1" in
    x86_64) echo x86_64-unknown-linux-musl ;;
    aarch64) echo aarch64-unknown-linux-musl ;;
    mipsel) echo mipsel-unknown-linux-musl ;;
    armv7) echo armv7-unknown-linux-musleabihf ;;
    *) echo "size: unknown target $1" >&2; return 1 ;;
  esac
}

declare -A bytes
for t in "${targets[@]}"; do
  triple=$(triple_of "$t")
  for s in "${sets[@]}"; do
    start=$SECONDS
    FEATURES=${features[$s]} bash cross/build.sh "$t" >"target/size-build.log" 2>&1 || {
      tail -20 target/size-build.log >&2
      echo "size: building $t ($s) failed; log: target/size-build.log" >&2
      exit 1
    }
    mkdir -p "target/size/$triple/$s"
    cp "${CARGO_TARGET_DIR:-target}/$triple/release/promlet" "target/size/$triple/$s/promlet"
    bytes[$t/$s]=$(stat -c %s "target/size/$triple/$s/promlet")
    echo "size: $t $s: ${bytes[$t/$s]} B ($((SECONDS - start)) s)" >&2
  done
done

kib() { awk -v b="$1" 'BEGIN { printf "%.0f KiB", b / 1024 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }
over=0
cell() { # target set
  local b=${bytes[$1/$2]} lim=${budget[$1/$2]:-}
  local text
  if [ "$b" -ge 1048576 ]; then text=$(mib "$b"); else text=$(kib "$b"); fi
  text="$text ($b B)"
  if [ -n "$lim" ]; then
    if [ "$b" -le $((lim * 1024)) ]; then
      text="$text, budget $(kib $((lim * 1024))): ok"
    else
      text="$text, **over budget $(kib $((lim * 1024)))**"
      over=1
    fi
  fi
  printf '%s' "$text"
}

echo
echo "| target | node | router set (node,router,hdhomerun,proxy,gzip) | router set with push and tls | everything (default features) |"
echo "|---|---|---|---|---|"
for t in "${targets[@]}"; do
  printf '| %s | %s | %s | %s | %s |\n' "$(triple_of "$t")" "$(cell "$t" node)" "$(cell "$t" router)" "$(cell "$t" push)" "$(cell "$t" full)"
done
echo
echo "rustc $(rustc -V | cut -d' ' -f2) (x86_64, aarch64), $(rustc +nightly -V 2>/dev/null | sed 's/^rustc //') -Zbuild-std (mipsel, armv7); stripped, static; $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
exit $over
