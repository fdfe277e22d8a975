//go:build !linux

package source

import "syscall"

// childProcAttr puts ffmpeg in its own process group, so that Close can
// kill it with everything it spawned. (Linux also kills it when framecast
// dies; elsewhere it ends at its next write to the closed pipe.)
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
