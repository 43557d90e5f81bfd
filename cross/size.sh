#!/usr/bin/env bash
# `make size`: the stripped, static size of promlet per target and feature set, checked against
# the budgets, and what single features cost on the router target. The figures go into the
# README's table as the size.* rows (bench/figures.sh, bench/figures.tsv).
#
#   cross/size.sh [target...]        targets: x86_64 aarch64 mipsel armv7 (default: all four)
#
# Feature sets: node only (node-server: every node_exporter collector); the router set
# (node,router,hdhomerun,proxy,gzip: no tls, no yaml, no node-server collectors);
# the router set with push mode and TLS (a remote over the internet needs both); everything
# (default features). On the targets in DELTA_TARGETS (default mipsel, the router one) also the
# router set plus yaml, plus tls, and minus the router collectors, for the cost of each.
# Each binary is kept as target/size/<triple>/<set>/promlet.
# Budgets: node only (node_exporter's whole default collector set) <= 900 KiB (x86_64), router
# set (with the router collectors) <= 1.3 MiB on x86_64 and mipsel, the router set with push
# and TLS <= 2.0 MiB on mipsel, everything <= 2.5 MiB on x86_64. A miss is reported in its row
# and makes the exit status 1.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
. bench/figures-lib.sh

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(x86_64 aarch64 mipsel armv7)
cmd="bash cross/size.sh${*:+ $*}"
DELTA_TARGETS=${DELTA_TARGETS:-mipsel}
[ "$DELTA_TARGETS" = mipsel ] || cmd="DELTA_TARGETS=$DELTA_TARGETS $cmd"
sets=(node router push full)
router=node,router,hdhomerun,proxy,gzip
declare -A features=([node]="node-server" [router]="$router" [push]="$router,push,tls" [full]=""
  [router-yaml]="$router,yaml" [router-tls]="$router,tls" [router-norouter]="node,hdhomerun,proxy,gzip")
declare -A label=([node]="node only" [router]="router set ($router)" [push]="router set with push and tls"
  [full]="everything (default features)")
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
  build_sets=("${sets[@]}")
  [[ " $DELTA_TARGETS " == *" $t "* ]] && build_sets+=(router-yaml router-tls router-norouter)
  for s in "${build_sets[@]}"; do
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

budget_text() { awk -v k="$1" 'BEGIN { if (k < 1024) printf "≤ %d KiB", k; else { t = sprintf("%.1f", k / 1024); sub(/\.0$/, "", t); printf "≤ %s MiB", t } }'; }
delta() { # a b: "+N B (+M KiB)"
  local d=$(($1 - $2)) sign=+
  [ "$d" -lt 0 ] && sign=- && d=$((-d))
  echo "$sign$(fig_int "$d") B ($sign$(awk -v b="$d" 'BEGIN { printf "%.0f KiB", b / 1024 }'))"
}
NE=$(command -v prometheus-node-exporter || command -v node_exporter || true)
over=0
rows=()
for t in "${targets[@]}"; do
  for s in "${sets[@]}"; do
    b=${bytes[$t/$s]} lim=${budget[$t/$s]:-} peer="" ratio="" target="" verdict="" what="size: ${label[$s]}, $t"
    if [ "$t/$s" = x86_64/node ] && [ -n "$NE" ]; then
      what="$what (peer: Debian's $("$NE" --version 2>&1 | sed -n '1s/^\([a-z_]*\), version \([0-9.]*\).*/\1 \2/p'))"
      peer=$(fig_bytes "$(stat -L -c %s "$NE")")
      ratio=$(fig_ratio "$b" "$(stat -L -c %s "$NE")")
    fi
    if [ -n "$lim" ]; then
      target=$(budget_text "$lim")
      verdict=$(fig_le "$b" $((lim * 1024)) over)
      [ "$verdict" = ok ] || over=1
    fi
    rows+=("$(fig_row "size.$t.$s" "$what" "$(fig_bytes "$b")" "$peer" "$ratio" "$target" "$verdict")")
  done
  if [ -n "${bytes[$t/router-yaml]:-}" ]; then
    rows+=("$(fig_row "size.$t.delta-router" "size: what the router collectors (feature router) add to node,hdhomerun,proxy,gzip, $t" \
      "$(delta "${bytes[$t/router]}" "${bytes[$t/router-norouter]}")" "" "" "" "")")
    rows+=("$(fig_row "size.$t.delta-yaml" "size: what yaml adds to the router set, $t" \
      "$(delta "${bytes[$t/router-yaml]}" "${bytes[$t/router]}")" "" "" "" "")")
    rows+=("$(fig_row "size.$t.delta-tls" "size: what tls adds to the router set, $t" \
      "$(delta "${bytes[$t/router-tls]}" "${bytes[$t/router]}")" "" "" "" "")")
    rows+=("$(fig_row "size.$t.delta-push" "size: what push adds to the router set with tls, $t" \
      "$(delta "${bytes[$t/push]}" "${bytes[$t/router-tls]}")" "" "" "" "")")
  fi
done
printf '%s\n' "${rows[@]}" | cut -f2,3,6,7 | tr '\t' ' '
echo "rustc $(rustc +nightly -V 2>/dev/null | sed 's/^rustc //') -Zbuild-std (every target); stripped, static; $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
printf '%s\n' "${rows[@]}" | fig_put "$cmd"
exit $over
