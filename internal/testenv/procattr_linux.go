package testenv

import "syscall"

// sysProcAttr puts a test's process in its own process group and has the
// kernel kill it when the test binary dies (a panic or a -timeout), so no
// server outlives its tests.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
