# The Go WASI preview 1 modules of modules/ (fetch, logs, update-config): each
# its own Go module on the Go SDK in ../sdk/go (a `replace` in its go.mod), so
# one rebuilds when its sources or the SDK's change, and all three test alike.
# Include it before the .wasm rule, which names $(GO_SRC) as prerequisites.

GO     ?= go
GO_SRC  = $(filter-out %_test.go,$(wildcard *.go ../sdk/go/agentctl/*.go)) go.mod ../sdk/go/go.mod
GO_WASM = GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -ldflags=-s

# go-test vets the module for the host and for wasip1, then runs its unit
# tests on the host.
.PHONY: go-test
go-test:
	$(GO) vet .
	GOOS=wasip1 GOARCH=wasm $(GO) vet .
	$(GO) test -race -count=1 .

# The including Makefile's next target (its .wasm) is the default, not go-test.
.DEFAULT_GOAL :=
