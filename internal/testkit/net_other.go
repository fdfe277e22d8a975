//go:build !linux

package testkit

import (
	"net"
	"testing"
)

// Unread is what the kernel holds for a connection, not yet read. Only
// Linux's is read (the syscall package has its ioctl number for Linux
// alone): elsewhere the test is skipped.
func Unread(t testing.TB, _ net.Conn) int {
	t.Helper()
	t.Skip("counting a connection's unread bytes (FIONREAD) is implemented for Linux only")
	return 0
}
