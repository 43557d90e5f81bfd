#!/usr/bin/env bash
# Installs what promlet's tests and tools need on a fresh Debian machine, skipping what is
# already there: the real peers (Prometheus and promtool, node_exporter, exporter_exporter,
# hdhomerun_config, victoria-metrics and vmagent, qemu-user-static, python3-prometheus-client), load tools, rustup targets,
# and zig for the mipsel cross build. Safe to run again.
set -euo pipefail

need_apt=()
check() { # command package
  command -v "$1" >/dev/null 2>&1 || need_apt+=("$2")
}
check prometheus prometheus
check promtool prometheus
check prometheus-node-exporter prometheus-node-exporter
check prometheus-exporter-exporter prometheus-exporter-exporter
check hdhomerun_config hdhomerun-config
# The remote-write receiver and vmagent, the push peer.
check victoria-metrics victoria-metrics
check vmagent victoria-metrics
check qemu-aarch64-static qemu-user-static
check qemu-mipsel-static qemu-user-static
check qemu-arm-static qemu-user-static
check file file
check readelf binutils
# cross/build.sh drops the mipsel binary's .pdr section with it.
check llvm-objcopy llvm
check dash dash
check wrk wrk
check systemd-analyze systemd
check openssl openssl
check python3 python3
check curl curl
check unshare util-linux
# rustls uses ring, whose C and assembly need a C compiler for the target: musl-gcc for
# `make static` (x86_64-unknown-linux-musl).
check musl-gcc musl-tools
# Debian's packages, whichever python3 is first on PATH (pyenv's does not see them).
dpkg -s python3-prometheus-client >/dev/null 2>&1 || need_apt+=(python3-prometheus-client)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # dpkg can leave the node/exporter services started by postinst; tests use their own ports.
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Rust targets for static and cross builds.
installed=$(rustup target list --installed 2>/dev/null || true)
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal --component rust-src || echo "deps: nightly unavailable: mipsel and fuzz steps will say so"
elif ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
  rustup component add rust-src --toolchain nightly || true
fi

# zig links the tier-3 mipsel build (and armv7, whose rust-std rustup cannot fetch here) through
# cargo-zigbuild; both come from PyPI, into a venv that cross/build.sh puts on PATH.
CROSS_VENV=${CROSS_VENV:-$HOME/.cache/promlet-cross}
if ! "$CROSS_VENV/bin/python3" -c 'import ziglang' 2>/dev/null || [ ! -x "$CROSS_VENV/bin/cargo-zigbuild" ]; then
  echo "deps: installing ziglang and cargo-zigbuild (PyPI) into $CROSS_VENV"
  python3 -m venv "$CROSS_VENV"
  "$CROSS_VENV/bin/pip" install -q ziglang cargo-zigbuild
fi
echo "deps: ok"
