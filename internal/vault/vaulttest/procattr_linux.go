package vaulttest

import "syscall"

// sysProcAttr makes the kernel kill the vault process when the test binary
// dies (a panic or a -timeout), so no server outlives its tests.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
