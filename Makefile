# agent-ctl — build, test, demo. Two commands do all set-up on a fresh
# Debian machine: `make demo` and `make test`. Whatever a target needs and
# the machine lacks is installed here (apt), never assumed.

SHELL      := /bin/bash
GO         ?= go
BIN        := bin/agent-ctl
TAGS       ?= seccomp,urfave_cli_no_docs
GOTEST     ?= $(GO) test $(if $(TAGS),-tags $(TAGS))
TESTDATA   := tests/testdata
DEMO_DIR   := $(CURDIR)/.cache/demo
DEMO_PORT  ?= 18765
export AGENTCTL_HOME ?= $(CURDIR)/.cache/home

# Commands the build and the tests need, and the Debian package that brings
# each (minisign: signature interop; docker-registry: the OCI registry the
# modules/oci tests start).
APT_NEEDS := clang:clang wasm-ld:lld wat2wasm:wabt wasm-opt:binaryen gcc:gcc pkg-config:pkg-config x86_64-w64-mingw32-gcc:gcc-mingw-w64-x86-64-posix minisign:minisign docker-registry:docker-registry \
  promtool:prometheus
# (prometheus: only for promtool, which checks /metrics in the e2e tests;
# a 19 MB download, 96 MB installed with the server it also brings.)
APT_FILES := /usr/include/seccomp.h:libseccomp-dev /usr/lib/wasm32-wasi/libc.a:wasi-libc /usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/libclang_rt.builtins-wasm32.a:libclang-rt-14-dev-wasm32 /usr/bin/rustc:rustc /usr/lib/rustlib/wasm32-wasi/lib/self-contained/crt1-command.o:libstd-rust-dev-wasm32

# What make test-cgroup2 needs: qemu for the VM, a static busybox for its
# initramfs (the kernel itself is downloaded by the test, not installed).
CGROUP2_APT := qemu-system-x86 busybox-static

.PHONY: all build deps cgroup2-deps wine-deps test-windows fixtures modules check-wasm test test-cgroup2 vet cross lint fmt bench bench-goals demo clean fuzz-jail fuzz-jail-quick fuzz-deps

all: build

## deps: install the toolchains the build and the fixtures need (only what is missing)
deps:
	@missing=""; \
	for pair in $(APT_NEEDS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	for pair in $(APT_FILES); do f=$${pair%%:*}; pkg=$${pair##*:}; \
	  ls $$f >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

cgroup2-deps:
	@missing=""; \
	for pkg in $(CGROUP2_APT); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# wine64 alone (no `wine` wrapper, no recommends: 19 packages): make
# test-windows calls /usr/lib/wine/wine64 itself.
wine-deps:
	@if ! dpkg-query -W -f='$${Status}' wine64 2>/dev/null | grep -q 'ok installed'; then \
	  echo "installing: wine64"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends wine64 >/dev/null; \
	fi

## build: bin/agent-ctl (the lean front), bin/agent-ctl-full (the CLI) and bin/agent-ctl-worker (the worker it spawns for each call)
# bin/agent-ctl is the front (cmd/agent-ctl-front): it hands `run` to a
# running serve's daemon socket and execs bin/agent-ctl-full, beside it, for
# everything else; it links no cgo, so it is built static (no dynamic
# loader at each start; docs/why.md).
# The worker is built with agentctl_worker: without the supervisor's half of
# the wire, it links neither go-plugin nor gRPC (docs/why.md). It is linked
# statically: no dynamic loader and no shared libraries to map at each call
# (docs/performance.md). The linker warns that getaddrinfo, getpwuid_r and
# dlopen need glibc's shared libraries at run time: the worker calls none of
# them (no name lookups, no wasmtime cache directory, no VTune profiling).
COMMA := ,
WORKER_TAGS := $(if $(TAGS),$(TAGS)$(COMMA))agentctl_worker
WORKER_LDFLAGS := -extldflags=-static
build:
	$(GO) build $(if $(TAGS),-tags $(TAGS)) -o bin/agent-ctl-full ./cmd/agent-ctl
	CGO_ENABLED=0 $(GO) build $(if $(TAGS),-tags $(TAGS)) -o bin/agent-ctl ./cmd/agent-ctl-front
	$(GO) build -tags $(WORKER_TAGS) -ldflags '$(WORKER_LDFLAGS)' -o bin/ ./cmd/agent-ctl-worker

## fixtures: rebuild the WebAssembly test fixtures from source
fixtures: deps
	$(MAKE) -s -C $(TESTDATA) all

## modules: build the tools in modules/ from source
modules: deps
	$(MAKE) -s -C modules/hello
	$(MAKE) -s -C modules/update-config
	$(MAKE) -s -C modules/sdk
	$(MAKE) -s -C modules/scan
	$(MAKE) -s -C modules/logs
	$(MAKE) -s -C modules/fetch

## check-wasm: rebuild every committed .wasm from source (-B: whatever the timestamps say) and fail if one differs
check-wasm:
	$(MAKE) -B modules fixtures
	@git diff --exit-code --stat -- '*.wasm' || { echo "these committed .wasm files differ from a rebuild from their sources: commit the rebuilt ones, or make their build reproducible"; exit 1; }
	@out=$$(git status --porcelain --untracked-files=all -- '*.wasm'); if [ -n "$$out" ]; then echo "built .wasm files not committed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(if $(TAGS),-tags $(TAGS)) ./...
	$(GO) vet -tags $(WORKER_TAGS) ./worker/... ./cmd/agent-ctl-worker
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## cross: vet and build for Windows (wasmtime-go needs cgo, hence mingw)
cross: deps
	CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc GOOS=windows $(GO) vet $(if $(TAGS),-tags $(TAGS)) ./...
	CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc GOOS=windows $(GO) build $(if $(TAGS),-tags $(TAGS)) -o .cache/windows/ ./cmd/...

## lint: go vet, gofmt and staticcheck, for Linux and for the Windows build
## (staticcheck is built for this host once, then told the target by GOOS)
STATICCHECK := .cache/bin/staticcheck
$(STATICCHECK):
	GOBIN=$(CURDIR)/.cache/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: vet cross $(STATICCHECK)
	GOFLAGS=-tags=$(TAGS) $(STATICCHECK) ./...
	CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc GOOS=windows GOFLAGS=-tags=$(TAGS) $(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## test: everything CI runs
test: fixtures modules build vet cross mcp-deps
	$(MAKE) -s -C modules/sdk test
	$(MAKE) -s -C modules/scan test
	$(MAKE) -s -C modules/logs test
	$(MAKE) -s -C modules/fetch test
	$(MAKE) -s -C modules/update-config test
	AGENTCTL_BIN=$(CURDIR)/$(BIN) AGENTCTL_TEST_LARGE=1 $(MCP_ENV) $(GOTEST) -race -count=1 -timeout 30m -skip '^TestNew$$' ./...
	# agent-ctl new to a passing make test in each language, alone and with -v so that
	# the CI log shows each time (the target: under 30 s for C, Rust and Go)
	AGENTCTL_BIN=$(CURDIR)/$(BIN) $(GOTEST) -count=1 -timeout 30m -v -run '^TestNew$$' ./tests/e2e
	# the walls again with the other container engine (libcontainer's)
	AGENT_CTL_CONTAINER_ENGINE=libcontainer $(GOTEST) -race -count=1 -timeout 30m ./isolation
	# and the grant races, where libcontainer mounts by name and checks after
	AGENT_CTL_CONTAINER_ENGINE=libcontainer $(GOTEST) -race -count=1 -timeout 30m -run 'TestGrant_|TestModule_openedOnce' ./supervisor
	# the jail constructor's configuration parser, fuzzed for a bounded time (16 s)
	$(MAKE) -s fuzz-jail-quick
	# cgroup v2 on a real kernel, in a VM (these machines mount v1): 2.5-5 minutes under TCG
	$(MAKE) -s test-cgroup2

## test-windows: run the Windows build under Wine: the CLI, run --isolation process, the job-object and named-pipe tests (tests/wine)
test-windows: deps wine-deps
	TAGS=$(TAGS) tests/wine/run.sh

## test-cgroup2: boot Debian's kernel in qemu with only cgroup2 mounted and check the workers' cgroups there (tests/cgroup2)
test-cgroup2: build cgroup2-deps
	TAGS=$(TAGS) tests/cgroup2/run.sh

## fuzz-jail: fuzz the jail constructor's configuration parser (libFuzzer, ASan, UBSan; then Go's FuzzParseRecords), FUZZ_SECONDS each
FUZZ_SECONDS ?= 180
JAIL_FUZZ_DIR := isolation/jail/testdata/libfuzzer
JAIL_FUZZ_CORPUS := $(JAIL_FUZZ_DIR)/corpus
# the format's own fields (jail.dict), so that mutations build records
JAIL_FUZZ = .cache/fuzz-jail/fuzz_parse -max_len=4096 -dict=$(JAIL_FUZZ_DIR)/jail.dict \
	  -artifact_prefix=.cache/fuzz-jail/ .cache/fuzz-jail/new $(JAIL_FUZZ_CORPUS)
fuzz-jail: fuzz-deps
	$(JAIL_FUZZ) -max_total_time=$(FUZZ_SECONDS)
	# keep the corpus small: only inputs that add coverage
	.cache/fuzz-jail/fuzz_parse -merge=1 $(JAIL_FUZZ_CORPUS) .cache/fuzz-jail/new
	$(GOTEST) -run '^$$' -fuzz '^FuzzParseRecords$$' -fuzztime $(FUZZ_SECONDS)s ./isolation/jail

## fuzz-jail-quick: fuzz-jail for 8 s each, leaving the committed corpus as it is (make test)
fuzz-jail-quick: fuzz-deps
	$(JAIL_FUZZ) -max_total_time=8 2>.cache/fuzz-jail/quick.log || { tail -40 .cache/fuzz-jail/quick.log; exit 1; }
	$(GOTEST) -run '^$$' -fuzz '^FuzzParseRecords$$' -fuzztime 8s ./isolation/jail

# the libFuzzer harness (isolation/jail/testdata/libfuzzer/fuzz_parse.c), built with ASan and UBSan
fuzz-deps: deps
	@ls /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; $$SUDO apt-get install -y -qq libclang-rt-14-dev >/dev/null; }
	mkdir -p .cache/fuzz-jail/new
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iisolation/jail \
	  $(JAIL_FUZZ_DIR)/fuzz_parse.c isolation/jail/jail_linux.c -o .cache/fuzz-jail/fuzz_parse

## bench: benchmarks with ratios against baselines measured in the same run
bench: fixtures modules build mcp-deps
	@mkdir -p .cache
	set -o pipefail; $(GOTEST) -run '^$$' -bench . -benchtime 100x -count 1 ./supervisor | tee .cache/bench.txt
	set -o pipefail; AGENTCTL_BIN=$(CURDIR)/$(BIN) $(MCP_ENV) $(GOTEST) -run '^$$' -bench . -benchtime 100x -count 1 ./tests/e2e | tee -a .cache/bench.txt
	set -o pipefail; $(GOTEST) -run '^$$' -bench SpawnSteps -benchtime 20x -count 1 ./isolation | tee -a .cache/bench.txt
	set -o pipefail; $(GOTEST) -run '^$$' -bench FanOut -benchtime 20x -count 1 ./cmd/internal/fleet | tee -a .cache/bench.txt
	set -o pipefail; AGENTCTL_BIN=$(CURDIR)/$(BIN) $(GOTEST) -run '^$$' -bench ToolsList -benchtime 20x -count 1 ./cmd/internal/mcp | tee -a .cache/bench.txt
	@echo; echo "summary (ratios against baselines measured in the same run):"; grep -oE '[a-z_]+_vs_[a-z_]+ ratio=.*' .cache/bench.txt

## bench-goals: issue 18's table: the benchmarks of its goals, BENCH_RUNS runs interleaved, then each goal's median
BENCH_RUNS ?= 3
bench-goals: fixtures modules build mcp-deps
	@mkdir -p .cache; : > .cache/bench-goals.txt
	set -o pipefail; for run in $$(seq $(BENCH_RUNS)); do \
	  echo "== run $$run, load $$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a .cache/bench-goals.txt; \
	  $(GOTEST) -run '^$$' -bench 'InvokeChannel' -benchtime 100x -count 1 ./supervisor | tee -a .cache/bench-goals.txt && \
	  AGENTCTL_BIN=$(CURDIR)/$(BIN) $(MCP_ENV) $(GOTEST) -run '^$$' -bench 'MCPCall|ServeThroughput|CLIRun|DaemonRun|Logs|Memory' -benchtime 100x -count 1 -timeout 60m ./tests/e2e | tee -a .cache/bench-goals.txt && \
	  AGENTCTL_BIN=$(CURDIR)/$(BIN) $(GOTEST) -run '^$$' -bench ToolsList -benchtime 20x -count 1 ./cmd/internal/mcp | tee -a .cache/bench-goals.txt || exit 1; \
	done
	@echo; $(GO) run ./tests/bench/goals < .cache/bench-goals.txt | tee .cache/bench-goals-table.txt

## demo: build, check the host's walls, run a module with a granted directory, show refused escapes and limits
# the demo runs in a home of its own, made afresh each time, so that it
# can be run again (an earlier run's grants would be held for rebuilt modules)
demo: export AGENTCTL_HOME := $(DEMO_DIR)/home
demo: fixtures modules build
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)/data
	@printf 'release notes\n  - sandboxed by default\n' > $(DEMO_DIR)/data/notes.txt
	@echo "== the walls this host provides"
	$(BIN) doctor
	@echo; echo "== hello, with nothing granted (default isolation: container)"
	$(BIN) run $(TESTDATA)/hello.wasm -- operator
	@echo; echo "== an installed tool: flags, help and validation come from its manifest"
	$(BIN) install modules/hello
	$(BIN) hello --name operator --shout
	$(BIN) hello --help
	$(BIN) hello --name "$$(printf '%070d' 0)"; echo "exit code $$? (refused by the schema before any worker started)"
	@echo; echo "== a granted read-only directory"
	$(BIN) run --dir $(DEMO_DIR)/data:/data:ro $(TESTDATA)/cat.wasm -- /data/notes.txt
	@echo; echo "== escape attempts from the granted directory (every one must say denied)"
	@ln -sfn /etc $(DEMO_DIR)/data/link-out; ln -sfn /etc/passwd $(DEMO_DIR)/data/link-file; mkdir -p $(DEMO_DIR)/data/sub
	$(BIN) run --dir $(DEMO_DIR)/data:/data:ro $(TESTDATA)/escape.wasm
	@echo; echo "== reading outside the grant is refused"
	$(BIN) run --dir $(DEMO_DIR)/data:/data:ro $(TESTDATA)/cat.wasm -- /data/../../etc/passwd; echo "exit code $$?"
	@echo; echo "== a grant through a symbolic link is refused (root never follows a link it did not check)"
	@ln -sfn $(DEMO_DIR)/data $(DEMO_DIR)/data-link
	$(BIN) run --dir $(DEMO_DIR)/data-link:/data:ro $(TESTDATA)/cat.wasm -- /data/notes.txt; echo "exit code $$?"
	@echo; echo "== changing the read-only grant is refused, and nothing changes"
	@printf 'original\n' > $(DEMO_DIR)/data/existing.txt; : > $(DEMO_DIR)/data/victim.txt; mkdir -p $(DEMO_DIR)/data/subdir
	$(BIN) run --dir $(DEMO_DIR)/data:/data:ro $(TESTDATA)/fsops.wasm
	@echo; echo "== limits: an endless loop meets --timeout (exit 124)"
	$(BIN) run --timeout 500ms $(TESTDATA)/loop.wasm; echo "exit code $$?"
	@echo; echo "== limits: a memory bomb meets --memory (exit 137)"
	$(BIN) run --memory 16MiB $(TESTDATA)/malloc.wasm; echo "exit code $$?"
	@echo; echo "== limits: an output flood meets --max-output (exit 141)"
	$(BIN) run --max-output 4KiB $(TESTDATA)/flood.wasm | tail -c 64; echo "exit code $${PIPESTATUS[0]}"
	@echo; echo "== the logs tool: rotated and gzipped logs searched oldest first, streaming in 32 MiB"
	$(BIN) install modules/logs </dev/null
	$(BIN) grant logs --dir $(CURDIR)/modules/logs/testdata/sample:/logs:ro
	$(BIN) logs --filter ERROR
	$(BIN) logs --regex '(?i)timeout|refused' --since 2024-05-01T09:00:00Z --json
	$(BIN) logs --file ../../etc/passwd; echo "exit code $$? (refused: outside /logs)"
	@echo; echo "== the network goes through the host: scan is granted one port of a local server, not the next"
	$(BIN) install modules/scan </dev/null
	$(BIN) grant scan --net 127.0.0.1/32:$(DEMO_PORT)
	@$(BIN) serve --listen 127.0.0.1:$(DEMO_PORT) --no-auth 2>/dev/null & echo $$! > $(DEMO_DIR)/serve.pid; sleep 1
	$(BIN) scan --ip 127.0.0.1/32 --ports $(DEMO_PORT),$$(($(DEMO_PORT)+1)) --all; status=$$?; kill $$(cat $(DEMO_DIR)/serve.pid); exit $$status

clean:
	rm -rf bin .cache

# Real MCP clients (Node 22, the TypeScript SDK, Inspector, conformance suite):
# last, so that its targets never become the default.
include tests/mcp/mcp.mk
