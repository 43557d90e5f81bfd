# promlet's front door. `make run` serves on 127.0.0.1:9100; `make test` runs everything CI runs.
CARGO ?= cargo
ADDR ?= 127.0.0.1:9100
MUSL := x86_64-unknown-linux-musl
STATIC := target/$(MUSL)/release/promlet

.PHONY: run test deps test-unit test-features test-each-feature test-cross test-packaging lint figures fuzz golden static size bench cross install clean

run:
	$(CARGO) run --release -- --web.listen-address=$(ADDR) \
	  --http-sd.directory=examples/targets --config.file=examples/promlet.yml $(ARGS)

deps:
	bash scripts/deps.sh

test: deps test-unit test-features test-cross test-packaging lint fuzz

# Unit and integration tests (real peers included) for the default (full) build.
test-unit:
	$(CARGO) test --locked

# Every feature builds alone, and the router set builds, without warnings, and so do their
# tests (a test of a part is gated on its feature with #[cfg], so it compiles in every build).
test-features:
	for f in node node-server router hdhomerun packet-sd http-sd proxy push tls yaml gzip; do \
	  echo "== feature $$f alone"; \
	  RUSTFLAGS="-D warnings" $(CARGO) check --locked --tests --no-default-features --features $$f || exit 1; \
	done
	RUSTFLAGS="-D warnings" $(CARGO) check --locked --tests --no-default-features --features node,router,hdhomerun,proxy,gzip

# Runs the tests of each feature's build alone, a build and a test run per feature (make test
# only checks that they build, in test-features).
test-each-feature:
	for f in node node-server router hdhomerun packet-sd http-sd proxy push tls yaml gzip; do \
	  echo "== tests of feature $$f alone"; \
	  $(CARGO) test --locked --no-default-features --features $$f || exit 1; \
	done

# The README's one figures table must be what bench/figures.tsv renders (no cargo needed).
lint: figures
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

figures:
	bash bench/figures.sh selftest
	bash bench/figures.sh check

# Fuzz targets under fuzz/ for a short fixed number of runs (nightly + cargo-fuzz).
fuzz:
	bash scripts/fuzz.sh

# Rewrites golden files from the current output.
golden:
	UPDATE_GOLDEN=1 $(CARGO) test --locked golden

static:
	bash cross/build.sh x86_64
	@ls -l $(STATIC)

size:
	bash cross/size.sh

cross:
	bash cross/build.sh

# Static binaries run under qemu-user-static; their /metrics must pass promtool. x86_64 and
# aarch64 (stable, prebuilt std) are built with everything; mipsel and armv7 (nightly
# -Zbuild-std, zig) with the router set, the one routers get, which keeps CI shorter.
ROUTER_FEATURES := node,router,hdhomerun,proxy,gzip
test-cross:
	bash cross/build.sh x86_64 aarch64
	FEATURES=$(ROUTER_FEATURES) bash cross/build.sh mipsel armv7
	bash cross/smoke.sh x86_64 aarch64 mipsel armv7

# systemd units (verify, security exposure), the OpenWrt init script, make install.
test-packaging:
	$(CARGO) build --locked
	bash systemd/test.sh
	bash openwrt/test.sh
	bash scripts/test-install.sh

bench:
	bash bench/run.sh

# Installs the static binary, the systemd units and their default flag files:
#   $(PREFIX)/bin/promlet, $(UNITDIR)/promlet{,-packet-sd}.service (ExecStart pointing at that
#   binary), $(SYSCONFDIR)/default/promlet{,-packet-sd} (kept if already there).
# UNITDIR defaults to $(PREFIX)/lib/systemd/system, which systemd reads for /usr and /usr/local.
# As GNU's conventions say, SYSCONFDIR is $(PREFIX)/etc unless given, so nothing is written
# outside $(DESTDIR)$(PREFIX): a system install says `PREFIX=/usr SYSCONFDIR=/etc`.
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= $(PREFIX)/etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
BIN ?= $(STATIC)
$(STATIC):
	$(MAKE) static
install: $(BIN)
	install -Dm0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/promlet
	for u in promlet promlet-packet-sd; do \
	  sed -e 's|/usr/bin/promlet|$(PREFIX)/bin/promlet|g' -e 's|/etc/|$(SYSCONFDIR)/|g' \
	    systemd/$$u.service | install -Dm0644 /dev/stdin $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	  if [ -e $(DESTDIR)$(SYSCONFDIR)/default/$$u ]; then \
	    echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/default/$$u"; \
	  else \
	    install -Dm0644 systemd/$$u.default $(DESTDIR)$(SYSCONFDIR)/default/$$u || exit 1; \
	  fi; \
	done
	install -dm0755 $(DESTDIR)$(SYSCONFDIR)/promlet

clean:
	$(CARGO) clean
