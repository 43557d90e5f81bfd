# Stand-in for the OpenWrt buildroot's rules.mk in openwrt/test.sh: only what the promlet
# package Makefile reads.
INCLUDE_DIR := $(TOPDIR)/include
INSTALL_DIR := install -d -m0755
INSTALL_BIN := install -m0755
INSTALL_CONF := install -m0600
INSTALL_DATA := install -m0644
HOSTCC_NOCACHE := cc
PKG_JOBS := -j1
