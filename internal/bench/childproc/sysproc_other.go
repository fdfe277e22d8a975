//go:build !unix

package childproc

import "syscall"

// sysProcAttr is the default: no process groups here.
func sysProcAttr() *syscall.SysProcAttr { return nil }
