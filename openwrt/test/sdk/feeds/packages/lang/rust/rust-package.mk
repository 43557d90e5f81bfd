# Stand-in for the feed's lang/rust/rust-package.mk in openwrt/test.sh, with the interface the
# reference describes: RUST_PKG_FEATURES becomes --features, RUST_PKG_LOCKED (default 1)
# --locked, Build/Compile/Cargo runs `cargo install` with extra arguments $(2), RustBinPackage
# supplies a default install step, RUST_ARCH_DEPENDS is the architecture list.
RUST_ARCH_DEPENDS := @(aarch64||arm||mips||mipsel||x86_64)
RUST_PKG_LOCKED ?= 1
CARGO_PKG_VARS = CC=$(HOSTCC_NOCACHE) MAKEFLAGS="$(PKG_JOBS)"

define Build/Compile/Cargo
	$(CARGO_PKG_VARS) cargo install -v --profile release \
		$(if $(strip $(RUST_PKG_FEATURES)),--features "$(strip $(RUST_PKG_FEATURES))") \
		--root $(PKG_INSTALL_DIR) --path "$(PKG_BUILD_DIR)/$(strip $(1))" \
		$(if $(filter 1,$(RUST_PKG_LOCKED)),--locked) $(2)
endef

define RustBinPackage
  ifndef Package/$(1)/install
    define Package/$(1)/install
	$$(INSTALL_DIR) $$(1)/usr/bin/
	$$(INSTALL_BIN) $$(PKG_INSTALL_DIR)/bin/* $$(1)/usr/bin/
    endef
  endif
endef

Build/Compile = $(call Build/Compile/Cargo)
