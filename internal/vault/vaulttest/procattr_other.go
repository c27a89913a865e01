//go:build !linux

package vaulttest

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; cleanup stops the
// process instead.
func sysProcAttr() *syscall.SysProcAttr { return nil }
