package main

import (
	"context"

	"github.com/agent-ctl/agent-ctl/cmd/internal/cliapp"
)

// signalError is the cause of a context cancelled by a signal.
type signalError = cliapp.SignalError

// signalContext returns a context cancelled by the first SIGINT or SIGTERM
// (cliapp.SignalContext).
func signalContext() (context.Context, func()) { return cliapp.SignalContext() }
