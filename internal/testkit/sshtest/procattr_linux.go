package sshtest

import "syscall"

// sshdProcAttr makes the kernel kill sshd if the test binary dies without
// running its cleanups (a panic, a timeout, SIGKILL).
func sshdProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
