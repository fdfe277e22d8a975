package kafka

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Check against TLS, SASL and the embedded broker's size guard is tested
// in internal/broker (check_test.go), which runs the broker.

func TestCheckUnreachable(t *testing.T) {
	addr := closedAddr(t) // closed again: nothing listens
	start := time.Now()
	err := Check(context.Background(), Config{Brokers: addr}, 5*time.Second)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	if msg := err.Error(); !strings.Contains(msg, addr) || !strings.Contains(msg, "framecast broker") {
		t.Fatalf("message should name %s and say how to start a broker: %s", addr, msg)
	}
	if time.Since(start) > time.Second {
		t.Errorf("a refused connection took %s to report", time.Since(start))
	}

	err = Check(context.Background(), Config{Brokers: "no-such-host.invalid:9092"}, 5*time.Second)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "resolve") {
		t.Fatalf("unknown host: got %v", err)
	}
}

func TestRedact(t *testing.T) {
	base := &CheckError{Addr: "h:1", Kind: ErrAuth, Explain: "bad hunter2 here"}
	err := redact(base, "hunter2")
	if strings.Contains(err.Error(), "hunter2") || !errors.Is(err, ErrAuth) {
		t.Fatalf("redact: %v", err)
	}
	if redact(nil, "x") != nil {
		t.Fatal("redact(nil)")
	}
}
