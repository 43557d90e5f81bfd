#!/usr/bin/env bash
# `make bench`: every part's benchmark against its peer, in one run on this machine. Each script
# puts its figures into bench/figures.tsv and the README's table (bench/figures.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh >/dev/null
cargo build --locked --release >/dev/null 2>&1 || cargo build --locked --release
for b in bench/node.sh bench/hdhomerun.sh bench/http-sd.sh bench/packet-sd.sh bench/proxy.sh bench/hostile.sh bench/push.sh; do
  if [ -f "$b" ]; then
    echo "== $b"
    bash "$b"
    echo
  fi
done
bash bench/figures.sh check
