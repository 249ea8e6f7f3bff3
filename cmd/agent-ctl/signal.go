package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return fmt.Sprintf("received %s", e.sig) }

// exitCode is 128 plus the signal number, as shells report it.
func (e signalError) exitCode() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// signalContext returns a context cancelled, with a signalError as its
// cause, on the first SIGINT or SIGTERM. A second signal of either kind
// exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-ch
		if !ok {
			return
		}
		cancel(signalError{sig})
		if sig, ok := <-ch; ok {
			os.Exit(signalError{sig}.exitCode())
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel(nil) }
}

// Signal is the signal received: a daemon call is cancelled as it would be.
func (e signalError) Signal() os.Signal { return e.sig }
