//go:build !linux

package testenv

import "syscall"

// sysProcAttr puts a test's process in its own process group; there is no
// parent-death signal outside Linux, so cleanup stops the process instead.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
