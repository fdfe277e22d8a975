package kafka

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestCheckTopics(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(3, "a"), kfake.SeedTopics(5, "b"))
	cl := newClient(t, addr)
	ctx := ctxTimeout(t, 10*time.Second)

	counts, err := CheckTopics(ctx, cl, "a", "b")
	if err != nil || counts["a"] != 3 || counts["b"] != 5 {
		t.Fatalf("got %v, %v; want a:3 b:5", counts, err)
	}

	_, err = CheckTopics(ctx, cl, "a", "x", "y")
	var te *TopicError
	if !errors.Is(err, ErrNoTopic) || errors.Is(err, ErrUnreachable) || !errors.As(err, &te) {
		t.Fatalf("missing topics: got %v, want a *TopicError matching ErrNoTopic", err)
	}
	if strings.Join(te.Topics, ",") != "x,y" {
		t.Errorf("missing %v, want x and y", te.Topics)
	}
	for _, s := range []string{addr, "x, y", "framecast broker", "--frames-topic"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message lacks %q: %v", s, err)
		}
	}
	// The check never creates a topic (nor lets the broker create one).
	if _, err := CheckTopics(ctx, cl, "x"); !errors.Is(err, ErrNoTopic) {
		t.Fatalf("x after the check: %v", err)
	}
}

func TestCheckTopicsUnreachable(t *testing.T) {
	addr := closedAddr(t)
	cl := newClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := CheckTopics(ctx, cl, "a")
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrNoTopic) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	for _, s := range []string{addr, "framecast broker", "--brokers"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message lacks %q: %v", s, err)
		}
	}
	// With SASL and TLS, an unreachable broker may be a mismatch of either.
	c := Config{Brokers: addr, TLS: true, SASLMechanism: "plain"}
	got := c.ExplainConnect(err)
	if !errors.Is(got, ErrUnreachable) || !strings.Contains(got.Error(), "wrong user or password") || !strings.Contains(got.Error(), "TLS listener") {
		t.Errorf("explained: %v", got)
	}
	if got := c.ExplainConnect(errors.New("boom")); got.Error() != "Kafka at "+addr+": boom" {
		t.Errorf("other error: %v", got)
	}
}
