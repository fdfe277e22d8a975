package kafka

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The package's tests run against kfake itself: kafka never imports the
// embedded broker (internal/broker), whose own tests cover Check against
// its TLS, SASL and size guard. They cannot use internal/testkit, which
// imports this package for the topic names, so the two helpers they need
// (a cluster without topics, an address nothing listens on) are here.

// cluster starts an in-memory kfake cluster with no topics and returns its
// address.
func cluster(t testing.TB, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(t.TempDir())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// clientOpts are the options of a client of addr, as every role's.
func clientOpts(t testing.TB, addr string) []kgo.Opt {
	t.Helper()
	opts, err := (&Config{Brokers: addr}).ClientOpts(nil)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// newClient is a client of addr, closed at the end of the test.
func newClient(t testing.TB, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(clientOpts(t, addr)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// closedAddr is a 127.0.0.1 address nothing listens on: a broker that is
// down.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
