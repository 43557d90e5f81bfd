# Sourced by bench/*.sh and cross/size.sh: formats figures the same way everywhere and hands
# rows to bench/figures.sh (the README's one table). Plain awk (mawk has no %' grouping).

# 1234567 -> 1,234,567 (rounded to an integer).
fig_int() { awk -v n="$1" 'BEGIN {
  s = sprintf("%.0f", n); neg = (s ~ /^-/); if (neg) s = substr(s, 2)
  out = ""; while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
  print (neg ? "-" : "") s out }'; }
# Milliseconds: two decimals below 10, one below 100, grouped integers above.
fig_ms() { awk -v m="$1" 'BEGIN { if (m < 10) printf "%.2f ms\n", m; else if (m < 100) printf "%.1f ms\n", m; else exit 1 }' ||
  echo "$(fig_int "$1") ms"; }
# KiB -> "x.y MiB".
fig_mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
# Bytes -> "1,234,567 B (1.18 MiB)" or "(933 KiB)".
fig_bytes() { echo "$(fig_int "$1") B ($(awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.2f MiB", b / 1048576; else printf "%.0f KiB", b / 1024 }'))"; }
# a / b with two decimals, or "n/a".
fig_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# ok when a <= b, else the second word (missed, over).
fig_le() { awk -v a="$1" -v b="$2" -v no="${3:-missed}" 'BEGIN { print (a != "n/a" && a + 0 <= b + 0) ? "ok" : no }'; }
# One row: key what promlet peer ratio target verdict (7 fields, tab-separated).
fig_row() {
  [ $# = 7 ] || { echo "fig_row: 7 fields, got $#: $*" >&2; return 1; }
  local IFS=$'\t'
  printf '%s\n' "$*"
}
# Rows on stdin into bench/figures.tsv and the README table, recorded with COMMAND.
fig_put() { bash "$(dirname "${BASH_SOURCE[0]}")/figures.sh" put "$1"; }
# The static x86_64 build of FEATURES as `make size` builds it (cross/build.sh), copied to
# target/bench/promlet-NAME so later builds do not replace it; prints that path. The build's
# output goes to target/bench-NAME-build.log (its tail to stderr when it fails).
bench_static_build() { # features name
  local log=target/bench-$2-build.log
  FEATURES=$1 bash cross/build.sh x86_64 >"$log" 2>&1 || {
    tail -20 "$log" >&2
    echo "bench: the static build of $1 failed; log: $log" >&2
    return 1
  }
  mkdir -p target/bench
  cp "${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-musl/release/promlet" "target/bench/promlet-$2"
  echo "target/bench/promlet-$2"
}
