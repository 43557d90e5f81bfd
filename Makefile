# promlet's front door. `make run` serves on 127.0.0.1:9100; `make test` runs everything CI runs.
CARGO ?= cargo
ADDR ?= 127.0.0.1:9100
MUSL := x86_64-unknown-linux-musl
STATIC := target/$(MUSL)/release/promlet

.PHONY: run test deps test-unit test-features lint fuzz golden static size bench cross install clean

run:
	$(CARGO) run --release -- --web.listen-address=$(ADDR) $(ARGS)

deps:
	bash scripts/deps.sh

test: deps test-unit test-features lint fuzz

# Unit and integration tests (real peers included) for the default (full) build.
test-unit:
	$(CARGO) test --locked

# Every feature builds alone, and the router set builds, without warnings.
test-features:
	for f in node hdhomerun packet-sd http-sd proxy; do \
	  echo "== feature $$f alone"; \
	  RUSTFLAGS="-D warnings" $(CARGO) check --locked --no-default-features --features $$f || exit 1; \
	done
	RUSTFLAGS="-D warnings" $(CARGO) check --locked --no-default-features --features node,hdhomerun,proxy,gzip

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Fuzz targets under fuzz/ for a short fixed number of runs (nightly + cargo-fuzz).
fuzz:
	bash scripts/fuzz.sh

# Rewrites golden files from the current output.
golden:
	UPDATE_GOLDEN=1 $(CARGO) test --locked golden

static:
	$(CARGO) build --locked --release --target $(MUSL)
	@ls -l $(STATIC)

size:
	bash cross/size.sh

cross:
	bash cross/build.sh

bench:
	bash bench/run.sh

PREFIX ?= /usr/local
DESTDIR ?=
install:
	install -Dm0755 $(STATIC) $(DESTDIR)$(PREFIX)/bin/promlet

clean:
	$(CARGO) clean
