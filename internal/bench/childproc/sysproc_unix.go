//go:build unix && !linux

package childproc

import "syscall"

// sysProcAttr gives the child a process group of its own. There is no
// parent-death signal here: a child outlives a parent that is killed.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
