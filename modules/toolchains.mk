# The toolchains the Makefiles of modules/hello, modules/scan and modules/sdk build
# with, and how a missing one is installed (apt, as root or with sudo). Include it
# after the first target: it adds the target rustc, which a recipe that runs $(RUSTC)
# takes as an order-only prerequisite (| rustc).

CC_WASM      ?= clang
CC_NATIVE    ?= gcc
WASI_SYSROOT ?= /usr
GO           ?= go
# Debian's rustc, by full path: rustup's rustc (first on PATH) has no wasm32 target.
RUSTC        ?= /usr/bin/rustc
RUST_WASI_STD = /usr/lib/rustlib/wasm32-wasi/lib/self-contained/crt1-command.o
APT_INSTALL   = if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq

.PHONY: rustc
rustc:
	@if [ ! -x $(RUSTC) ] || [ ! -e $(RUST_WASI_STD) ]; then \
	  echo "installing: rustc libstd-rust-dev-wasm32"; \
	  $(APT_INSTALL) rustc libstd-rust-dev-wasm32 >/dev/null; fi
