package childproc

import "syscall"

// sysProcAttr gives the child a process group of its own and SIGTERM when
// the thread that started it (kept alive by Start) ends with the parent.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
