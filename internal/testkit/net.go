package testkit

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
)

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago:
// for a server the test starts next, or as a camera or broker that is
// down (nothing listens there). Tests never use the fixed default ports.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// DialStalled connects with a small receive buffer, sends request and
// never reads: the server's writes to it soon block. The small MSS keeps
// the server's send buffer small too (Linux sizes it from the MSS: on
// loopback's 64 KB MSS it would take 4 MB before a write blocks).
func DialStalled(t testing.TB, addr, request string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = errors.Join(syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096),
				syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 536))
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	return conn
}
