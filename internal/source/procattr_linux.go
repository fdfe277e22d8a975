package source

import "syscall"

// childProcAttr puts ffmpeg in its own process group, so that Close can
// kill it with everything it spawned, and asks the kernel to kill it when
// framecast dies: a SIGKILLed publisher must not leave ffmpeg children
// holding cameras open.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
