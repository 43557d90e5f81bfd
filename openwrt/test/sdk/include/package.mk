# Stand-in for OpenWrt's package.mk in openwrt/test.sh. BuildPackage reads the package's
# definition like the real one (VARIANT, DEPENDS, ...) and, for the package of the variant being
# built (BUILD_VARIANT), adds targets: `compile` runs Build/Compile, `install` runs
# Package/<name>/install into $(DEST)/<name>, `info` prints the metadata.
PKG_BUILD_DIR ?= $(CURDIR)/src
PKG_INSTALL_DIR ?= $(STAGE)/ipkg-install

define BuildPackage
  $(eval $(Package/$(1)))
  $(if $(filter $(VARIANT),$(BUILD_VARIANT)),$(eval $(call _Variant,$(1))))
  $(eval VARIANT:=)
  $(eval DEFAULT_VARIANT:=)
  $(eval CONFLICTS:=)
  $(eval PROVIDES:=)
endef

define _Variant
info: info-$(1)
info-$(1):
	@echo 'package $(1): variant=$(VARIANT) default=$(DEFAULT_VARIANT) depends=$(DEPENDS) conflicts=$(CONFLICTS) provides=$(PROVIDES) userid=$(USERID)'
	@echo 'conffiles: $(strip $(Package/$(1)/conffiles))'
compile:
	$$(Build/Compile)
install: install-$(1)
install-$(1):
	$$(call Package/$(1)/install,$(DEST)/$(1))
endef
