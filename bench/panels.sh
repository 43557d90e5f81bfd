#!/usr/bin/env bash
# How many panels of Grafana's "Node Exporter Full" dashboard each exporter serves: a panel is
# served when every metric its queries use is in the exporter's /metrics (the panel list is
# bench/node-exporter-full-panels.tsv). Usage: bench/panels.sh NAME=URL... ; PANELS_VERBOSE=1
# also lists the panels each one misses.
set -euo pipefail
cd "$(dirname "$0")/.."
TSV=bench/node-exporter-full-panels.tsv
total=$(grep -vc '^#' "$TSV")
for arg in "$@"; do
  name=${arg%%=*} url=${arg#*=}
  # Sample names present (labels and values cut off).
  names=$(curl -sf "$url" | awk '!/^#/ && NF { sub(/[{ ].*/, ""); print }' | sort -u)
  awk -F'\t' -v name="$name" -v total="$total" -v verbose="${PANELS_VERBOSE:-}" '
    NR == FNR { have[$0] = 1; next }
    /^#/ { next }
    {
      n = split($2, m, " "); ok = 1; miss = ""
      for (i = 1; i <= n; i++) if (!(m[i] in have)) { ok = 0; miss = miss " " m[i] }
      if (ok) served++; else if (verbose) missing = missing sprintf("  %s:%s\n", $1, miss)
    }
    END {
      printf "Node Exporter Full panels served by %s: %d of %d\n", name, served, total
      if (verbose) printf "%s", missing
    }' <(printf '%s\n' "$names") "$TSV"
done
