#!/usr/bin/env bash
# Tests the OpenWrt init script's UCI-to-command-line logic: openwrt/promlet/files/promlet.init
# runs under dash (close to busybox ash) against stand-ins for OpenWrt's shell libraries
# (openwrt/test/root: config_load & co. over real UCI files, network_get_ipaddr over a table,
# procd_* recording each call). Each case compares the exact calls, and so the exact command
# line, with what is expected. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

export STUB=$PWD/openwrt/test/root
INIT=$PWD/openwrt/promlet/files/promlet.init
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
command -v dash >/dev/null || { echo "openwrt test: needs dash (Debian dash)" >&2; exit 1; }

# run CONFIG NET_STATE [PROG]: start_service then service_triggers; prints the recorded calls.
run() {
  mkdir -p "$tmp/uci"
  printf '%s\n' "$1" >"$tmp/uci/promlet"
  printf '%s\n' "$2" >"$tmp/net"
  : >"$tmp/calls"
  rm -f "$tmp/etc/push.json"
  CALLS=$tmp/calls UCI_CONFIG_DIR=$tmp/uci NET_STATE=$tmp/net INIT=$INIT TMPD=$tmp \
    PROG_OVERRIDE=${3:-$STUB/usr/bin/promlet} dash -c '
      . "$STUB/lib/functions.sh"
      . "$STUB/lib/functions/procd.sh"
      IPKG_INSTROOT=$STUB
      . "$INIT"
      PROG=$PROG_OVERRIDE
      PUSH_CONF=$TMPD/etc/push.json
      start_service
      echo "-- service_triggers" >>"$CALLS"
      service_triggers
    ' 2>&1 >>"$tmp/calls" | sed 's/^/stderr: /' >>"$tmp/calls"
  sed "s|$STUB||g" "$tmp/calls"
}

expect() { # name actual expected
  if [ "$2" = "$3" ]; then
    echo "ok   $1"
    passed=$((passed + 1))
  else
    echo "FAIL $1"
    diff <(printf '%s\n' "$3") <(printf '%s\n' "$2") | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}

NET='loopback ipv4 127.0.0.1
loopback ipv6 ::1
lan ipv4 192.168.1.1
lan ipv6 fd00:1::1'

# The shipped /etc/config/promlet: loopback, port 9100, promlet's default collectors.
expect "defaults (shipped config)" "$(run "$(cat openwrt/promlet/files/promlet.config)" "$NET")" \
'procd_open_instance
procd_set_param [command] [/usr/bin/promlet] [--web.listen-address=127.0.0.1:9100]
procd_append_param [command] [--collector.wifi]
procd_append_param [command] [--collector.openwrt]
procd_append_param [command] [--no-collector.nat_traffic]
procd_append_param [command] [--no-collector.snmp6]
procd_set_param [user] [promlet]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [loopback]'

ALL="config promlet 'main'
	option enabled '1'
	option listen_interface 'lan'
	option listen_port '9200'
	list collector 'cpu'
	list collector 'loadavg'
	list collector 'meminfo'
	option textfile_directory '/var/prometheus'
	option http_sd_directory '/etc/promlet/http-sd'
	option config_file '/etc/promlet/promlet.yml'
	option web_config_file '/etc/promlet/web.yml'
	list flag '--collector.filesystem.mount-points-exclude=^/(dev|proc|sys)(\$|/)'
	list flag '--web.max-requests=4'
	option user 'root'"
expect "all options" "$(run "$ALL" "$NET")" \
'procd_open_instance
procd_set_param [command] [/usr/bin/promlet] [--web.listen-address=192.168.1.1:9200]
procd_append_param [command] [--collector.cpu]
procd_append_param [command] [--no-collector.filesystem]
procd_append_param [command] [--collector.loadavg]
procd_append_param [command] [--collector.meminfo]
procd_append_param [command] [--no-collector.openwrt]
procd_append_param [command] [--no-collector.wifi]
procd_append_param [command] [--no-collector.nat_traffic]
procd_append_param [command] [--no-collector.snmp6]
procd_append_param [command] [--no-collector.textfile]
procd_append_param [command] [--collector.textfile.directory=/var/prometheus]
procd_append_param [command] [--http-sd.directory=/etc/promlet/http-sd]
procd_append_param [command] [--config.file=/etc/promlet/promlet.yml]
procd_append_param [command] [--web.config.file=/etc/promlet/web.yml]
procd_append_param [command] [--collector.filesystem.mount-points-exclude=^/(dev|proc|sys)($|/)]
procd_append_param [command] [--web.max-requests=4]
procd_set_param [file] [/etc/promlet/promlet.yml] [/etc/promlet/web.yml]
procd_set_param [user] [root]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [lan]'

expect "Packet SD token file, HDHomeRun targets and log level options" "$(run "config promlet 'main'
	option packet_authtoken_file '/etc/promlet/packet-authtoken'
	option packet_projectid 'p-1'
	list hdhomerun_allowed_target '192.168.1.0/24'
	list hdhomerun_allowed_target 'fd00::/8'
	option log_level 'warn'" "$NET")" \
'procd_open_instance
procd_set_param [command] [/usr/bin/promlet] [--web.listen-address=127.0.0.1:9100]
procd_append_param [command] [--collector.wifi]
procd_append_param [command] [--packet-sd.enable]
procd_append_param [command] [--packet.authtoken-file=/etc/promlet/packet-authtoken]
procd_append_param [command] [--packet.projectid=p-1]
procd_append_param [command] [--hdhomerun.allowed-targets=192.168.1.0/24]
procd_append_param [command] [--hdhomerun.allowed-targets=fd00::/8]
procd_append_param [command] [--log.level=warn]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [loopback]'

# wan has no address yet (DHCP pending): no instance at all, but the interface trigger is set,
# so netifd's ifup reloads the service, and then (second run) the address is there.
WAN="config promlet 'main'
	option listen_interface 'wan'"
expect "interface without an address: deferred" "$(run "$WAN" "$NET")" \
'logger [-t] [promlet] [-p] [daemon.notice] [interface wan has no address yet; starting once it comes up]
-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [wan]'
expect "interface without an address: started on the reload after ifup" \
  "$(run "$WAN" "$NET
wan ipv4 203.0.113.7")" \
'procd_open_instance
procd_set_param [command] [/usr/bin/promlet] [--web.listen-address=203.0.113.7:9100]
procd_append_param [command] [--collector.wifi]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [wan]'

expect "IPv6 address of the interface" "$(run "config promlet 'main'
	option listen_interface 'lan'
	option listen_ipv6 '1'" "$NET")" \
'procd_open_instance
procd_set_param [command] [/usr/bin/promlet] [--web.listen-address=[fd00:1::1]:9100]
procd_append_param [command] [--collector.wifi]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [lan]'

expect "every address ('*'): no interface trigger" "$(run "config promlet 'main'
	option listen_interface '*'
	option listen_port '9101'" "$NET")" \
'procd_open_instance
procd_set_param [command] [/usr/bin/promlet] [--web.listen-address=:9101]
procd_append_param [command] [--collector.wifi]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]'

expect "explicit address for an unmanaged interface" "$(run "config promlet 'main'
	option listen_interface 'tailscale'
	option listen_address '100.64.0.1'" "$NET")" \
'procd_open_instance
procd_set_param [command] [/usr/bin/promlet] [--web.listen-address=100.64.0.1:9100]
procd_append_param [command] [--collector.wifi]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]'

expect "disabled" "$(run "config promlet 'main'
	option enabled '0'" "$NET")" \
'-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [loopback]'

expect "unknown collector is logged and passed on for promlet to refuse" "$(run "config promlet 'main'
	list collector 'cpu'
	list collector 'bogus'" "$NET")" \
'procd_open_instance
procd_set_param [command] [/usr/bin/promlet] [--web.listen-address=127.0.0.1:9100]
procd_append_param [command] [--collector.cpu]
procd_append_param [command] [--no-collector.filesystem]
procd_append_param [command] [--no-collector.loadavg]
procd_append_param [command] [--no-collector.meminfo]
procd_append_param [command] [--no-collector.openwrt]
procd_append_param [command] [--no-collector.wifi]
procd_append_param [command] [--no-collector.nat_traffic]
procd_append_param [command] [--no-collector.snmp6]
procd_append_param [command] [--no-collector.textfile]
logger [-t] [promlet] [-p] [daemon.notice] [unknown collector bogus in /etc/config/promlet]
procd_append_param [command] [--collector.bogus]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [loopback]'

# The router switches: wifi off, nat_traffic on with a bound, snmp6 on, openwrt unset
# (promlet decides: on where /etc/openwrt_release exists).
expect "router collector switches" "$(run "config promlet 'main'
	option wifi '0'
	option nat_traffic '1'
	option nat_traffic_max_pairs '200'
	option snmp6 'on'" "$NET")" \
'procd_open_instance
procd_set_param [command] [/usr/bin/promlet] [--web.listen-address=127.0.0.1:9100]
procd_append_param [command] [--no-collector.wifi]
procd_append_param [command] [--collector.nat_traffic]
procd_append_param [command] [--collector.snmp6]
procd_append_param [command] [--collector.nat_traffic.max-pairs=200]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [loopback]'

# A build without the router collectors (not in --help): the switches are left out.
cat >"$tmp/old-promlet" <<'OLD'
#!/bin/sh
printf '  --[no-]collector.cpu\n'
OLD
chmod +x "$tmp/old-promlet"
expect "router switches skipped for collectors the binary lacks" "$(run "config promlet 'main'
	option wifi '1'" "$NET" "$tmp/old-promlet" | sed "s|$tmp||")" \
'procd_open_instance
procd_set_param [command] [/old-promlet] [--web.listen-address=127.0.0.1:9100]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [loopback]'

# The router variant has no HTTP SD and no Packet SD (not in its --help): their options are
# logged and left out, instead of an unknown flag that would stop promlet at every respawn.
expect "HTTP SD and Packet SD options skipped by a build without them" "$(run "config promlet 'main'
	option http_sd_directory '/etc/promlet/http-sd'
	option packet_authtoken_file '/etc/promlet/packet-authtoken'" "$NET" "$tmp/old-promlet" | sed "s|$tmp||")" \
'procd_open_instance
procd_set_param [command] [/old-promlet] [--web.listen-address=127.0.0.1:9100]
logger [-t] [promlet] [-p] [daemon.notice] [http_sd_directory left out: this build has no HTTP SD (promlet-full has)]
logger [-t] [promlet] [-p] [daemon.notice] [packet_sd left out: this build has no Packet SD (promlet-full has)]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [loopback]'

# The collector list is read from the real binary's --help: the format must match it.
real=${PROMLET_BIN:-target/debug/promlet}
if [ -x "$real" ]; then
  cmd=$(run "config promlet 'main'
	list collector 'loadavg'" "$NET" "$PWD/$real" | grep -c '\[--collector.loadavg\]')
  known=$("$real" --help | sed -n 's/^ *--\[no-\]collector\.\([a-z0-9_]*\)$/\1/p' | wc -l)
  if [ "$cmd" = 1 ] && [ "$known" -ge 1 ]; then
    echo "ok   collector list from the real binary's --help ($known collectors)"
    passed=$((passed + 1))
  else
    echo "FAIL collector list from the real binary's --help: $known collectors found"
    failed=$((failed + 1))
  fi
  # The full build lists HTTP SD and Packet SD, so their options become flags.
  parts=$(run "config promlet 'main'
	option http_sd_directory '/etc/promlet/http-sd'
	option packet_authtoken_file '/etc/promlet/packet-authtoken'" "$NET" "$PWD/$real" |
    grep -c -e '\[--http-sd.directory=/etc/promlet/http-sd\]' -e '\[--packet-sd.enable\]')
  expect "HTTP SD and Packet SD options found in the real binary's --help" "$parts" 2
else
  echo "FAIL no $real to read collectors from: cargo build first (or set PROMLET_BIN)"
  failed=$((failed + 1))
fi

# Push mode: the push_* options become a generated --config.file (tmpfs), with the
# credentials as file names only; procd restarts promlet when the generated file changes.
PUSH="config promlet 'main'
	option push_url 'https://metrics.example.net/api/v1/write'
	option push_interval '15s'
	option push_username 'router1'
	option push_password_file '/etc/promlet/push.pass'
	option push_instance 'r1'
	list push_label 'site=home'
	list push_label 'note=say \"hi\"'"
expect "push options: generated config file" "$(run "$PUSH" "$NET" | sed "s|$tmp|TMP|g")" \
'procd_open_instance
procd_set_param [command] [/usr/bin/promlet] [--web.listen-address=127.0.0.1:9100]
procd_append_param [command] [--collector.wifi]
procd_append_param [command] [--config.file=TMP/etc/push.json]
procd_set_param [file] [TMP/etc/push.json]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [loopback]'
expect "push options: the generated file" "$(cat "$tmp/etc/push.json")" \
'{"global": {"scrape_interval": "15s", "external_labels": {"site": "home", "note": "say \"hi\""}},
 "push": {"instance": "r1"}, "remote_write": [{"url": "https://metrics.example.net/api/v1/write", "basic_auth": {"username": "router1", "password_file": "/etc/promlet/push.pass"}}]}'
cp "$tmp/etc/push.json" "$tmp/push-basic.json"

run "config promlet 'main'
	option push_url 'http://192.0.2.1:8428/api/v1/write'
	option push_bearer_token_file '/etc/promlet/push.token'" "$NET" >/dev/null
expect "push options: bearer token file, default interval" "$(cat "$tmp/etc/push.json")" \
'{"global": {"scrape_interval": "60s", "external_labels": {}},
 "remote_write": [{"url": "http://192.0.2.1:8428/api/v1/write", "authorization": {"type": "Bearer", "credentials_file": "/etc/promlet/push.token"}}]}'
cp "$tmp/etc/push.json" "$tmp/push-token.json"

expect "push options with config_file: logged, config_file wins" "$(run "config promlet 'main'
	option push_url 'http://192.0.2.1:8428/api/v1/write'
	option config_file '/etc/promlet/promlet.yml'" "$NET")" \
'procd_open_instance
procd_set_param [command] [/usr/bin/promlet] [--web.listen-address=127.0.0.1:9100]
procd_append_param [command] [--collector.wifi]
logger [-t] [promlet] [-p] [daemon.notice] [push_url ignored: config_file is set, put remote_write into /etc/promlet/promlet.yml]
procd_append_param [command] [--config.file=/etc/promlet/promlet.yml]
procd_set_param [file] [/etc/promlet/promlet.yml]
procd_set_param [respawn]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_close_instance
-- service_triggers
procd_add_reload_trigger [promlet]
procd_add_reload_interface_trigger [loopback]'

# The generated files are what the real promlet (built with push) reads: it starts pushing.
real_push() { # config file; prints promlet's log until its "push: every" line
  local log=$tmp/push.log
  "$PWD/$real" --web.listen-address=127.0.0.1:0 --collector.disable-defaults \
    "--config.file=$1" >"$log" 2>&1 &
  local pid=$! i=0
  while [ $i -lt 100 ] && ! grep -q 'push: every\|level=error' "$log"; do
    sleep 0.1
    i=$((i + 1))
  done
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  grep -o 'push: every [^"]*\|level=error.*' "$log"
}
# (Its --version is read whole first: grep -q would end the pipe early under pipefail.)
features=$([ -x "$real" ] && "$real" --version 2>&1)
if [[ $features == *push* ]]; then
  expect "generated push config read by the real binary (basic auth)" "$(real_push "$tmp/push-basic.json")" \
    'push: every 15s to metrics.example.net:443/api/v1/write (https://metrics.example.net/api/v1/write)'
  expect "generated push config read by the real binary (bearer token)" "$(real_push "$tmp/push-token.json")" \
    'push: every 60s to 192.0.2.1:8428/api/v1/write (http://192.0.2.1:8428/api/v1/write)'
else
  echo "FAIL no $real built with push to read the generated config: cargo build first (or set PROMLET_BIN)"
  failed=$((failed + 1))
fi

# The package Makefile: both variants, their features, the feed's Rust helpers.
mk=openwrt/promlet/Makefile
for want in 'PKG_BUILD_DEPENDS:=rust/host' 'include $(TOPDIR)/feeds/packages/lang/rust/rust-package.mk' \
  'DEPENDS:=$(RUST_ARCH_DEPENDS)' 'RUST_PKG_FEATURES:=node,router,hdhomerun,proxy,gzip' \
  '$(eval $(call RustBinPackage,promlet))' '$(eval $(call BuildPackage,promlet-full))' \
  'Build/Compile=$(call Build/Compile/Cargo,,--no-default-features)'; do
  if grep -qF -- "$want" "$mk"; then
    passed=$((passed + 1))
  else
    echo "FAIL $mk lacks: $want"
    failed=$((failed + 1))
  fi
done
# Every feature the full variant names exists in Cargo.toml, and it is the default set.
full=$(sed -n 's/^  RUST_PKG_FEATURES:=\(.*packet-sd.*\)$/\1/p' "$mk")
default=$(sed -n 's/^default = \[\(.*\)\]$/\1/p' Cargo.toml | tr -d '" ' )
expect "promlet-full builds the default feature set" "$full" "$default"
# The router variant is the router set that make test-cross builds and make size measures.
router=$(sed -n 's/^  RUST_PKG_FEATURES:=\(.*\)$/\1/p' "$mk" | grep -v packet-sd)
expect "the router variant's features are make test-cross's and make size's router set" \
  "$router $router" "$(sed -n 's/^ROUTER_FEATURES := //p' Makefile) $(sed -n 's/^router=//p' cross/size.sh)"

# The feed names its Rust target from OpenWrt's GNU triple (lang/rust/rust-values.mk: "openwrt"
# becomes "unknown", muslgnueabi musleabi, 32-bit arm armv7 on a Cortex-A7 or later, "hf" with
# an FPU). For the common router targets those are exactly the triples cross/build.sh builds
# and cross/smoke.sh runs under qemu, so the smoke test covers what the package ships.
feed_triple() { # gnu-triple cpu-subtarget
  local t=${1/-openwrt-/-unknown-}
  t=${t/muslgnueabi/musleabi}
  case "$2" in *cortex-a7* | *cortex-a9* | *cortex-a15*) t=armv7${t#arm} ;; esac
  case "$2" in *vfp* | *neon*) t=${t}hf ;; esac
  echo "$t"
}
feed=$(for t in "mipsel-openwrt-linux-musl mipsel_24kc" "arm-openwrt-linux-muslgnueabi arm_cortex-a7_neon-vfpv4" \
  "aarch64-openwrt-linux-musl aarch64_cortex-a53" "x86_64-openwrt-linux-musl x86_64"; do
  # shellcheck disable=SC2086
  feed_triple $t
done | sort)
cross=$(sed -n 's/.*) echo \([a-z0-9_]*-unknown-linux-musl[a-z]*\) ;;$/\1/p' cross/build.sh | sort -u)
expect "cross/build.sh builds the feed's triples for ramips, ipq40xx, filogic and x86/64" "$cross" "$feed"

# The package Makefile itself, run by make against stand-ins for the buildroot and the feed's
# Rust helpers (openwrt/test/sdk, with a cargo that records its arguments): per variant, the
# metadata, the exact cargo command, and what the install step puts into the package.
SDK=$PWD/openwrt/test/sdk
command -v make >/dev/null || { echo "openwrt test: needs make" >&2; exit 1; }
# The package sits where the README's build steps put it: copied to package/promlet of an SDK
# (router variant), and in a feed of its own, a src-link to openwrt/ (full variant); the
# feed's Rust helpers come from $(TOPDIR)/feeds/packages either way.
mkdir -p "$tmp/package" "$tmp/feeds"
cp -r openwrt/promlet "$tmp/package/promlet"
ln -s "$PWD/openwrt" "$tmp/feeds/promlet"
pkgmk() { # variant package-dir
  : >"$tmp/cargo.log"
  rm -rf "$tmp/dest" "$tmp/stage"
  CARGO_LOG=$tmp/cargo.log PATH="$SDK:$PATH" make -s -C "$2" \
    TOPDIR="$SDK" BUILD_VARIANT="$1" STAGE="$tmp/stage" DEST="$tmp/dest" info compile install 2>&1
  sed -e "s|$tmp|TMP|g" -e "s|$PWD/openwrt|TMP/feeds/promlet|g" "$tmp/cargo.log"
  (cd "$tmp/dest" && find . -type f -printf '%p %m\n' | sort)
}
B='TMP/package/promlet'
expect "package Makefile, variant router (package promlet), copied into an SDK" "$(pkgmk router "$tmp/package/promlet")" \
"package promlet: variant=router default=1 depends=@(aarch64||arm||mips||mipsel||x86_64) conflicts=promlet-full prometheus-node-exporter-lua provides= userid=promlet=9100:promlet=9100
conffiles: /etc/config/promlet
cargo [install] [-v] [--profile] [release] [--features] [node,router,hdhomerun,proxy,gzip] [--root] [TMP/stage/ipkg-install] [--path] [$B/src/] [--locked] [--no-default-features]
PROMLET_REVISION=v0.1.0-1
./promlet/etc/config/promlet 600
./promlet/etc/init.d/promlet 755
./promlet/etc/promlet/promlet.example.json 644
./promlet/usr/bin/promlet 755"
B='TMP/feeds/promlet/promlet'
expect "package Makefile, variant full (package promlet-full), in a src-link feed" "$(pkgmk full "$tmp/feeds/promlet/promlet")" \
"package promlet-full: variant=full default= depends=@(aarch64||arm||mips||mipsel||x86_64) +ca-bundle conflicts=prometheus-node-exporter-lua provides=promlet userid=promlet=9100:promlet=9100
conffiles: /etc/config/promlet
cargo [install] [-v] [--profile] [release] [--features] [node,node-server,router,hdhomerun,packet-sd,http-sd,proxy,push,tls,yaml,gzip] [--root] [TMP/stage/ipkg-install] [--path] [$B/src/] [--locked] [--no-default-features]
PROMLET_REVISION=v0.1.0-1
./promlet-full/etc/config/promlet 600
./promlet-full/etc/init.d/promlet 755
./promlet-full/etc/promlet/promlet.example.json 644
./promlet-full/usr/bin/promlet 755"

echo "openwrt: $passed passed, $failed failed"
[ "$failed" = 0 ]
