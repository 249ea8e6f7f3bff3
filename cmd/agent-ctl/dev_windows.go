package main

import (
	"os/exec"
	"time"
)

// killGroup: on Windows, cancelling cmd kills make alone.
func killGroup(cmd *exec.Cmd) { cmd.WaitDelay = 5 * time.Second }
