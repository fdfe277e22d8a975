package childproc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/broker"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

// childEnv makes the test binary, which Start runs as "this executable",
// play framecast: see fakeFramecast.
const childEnv = "CHILDPROCTEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(fakeFramecast(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeFramecast stands in for the subcommands the tests start: broker
// (the embedded broker, on the flags StartBroker passes), wait (says
// "waiting" and waits for SIGTERM), fail (exit 3 with a message) and env (exit 4 when a FRAMECAST_*
// variable came through).
func fakeFramecast(args []string) int {
	global := flag.NewFlagSet("framecast", flag.ContinueOnError)
	global.String("log-level", "", "")
	global.String("log-format", "", "")
	if err := global.Parse(args); err != nil || global.NArg() == 0 {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	switch cmd := global.Arg(0); cmd {
	case "broker":
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		cfg := broker.Config{TopicSettings: kafka.DefaultTopicSettings()}
		fs.StringVar(&cfg.Listen, "listen", "", "")
		fs.StringVar(&cfg.DataDir, "data-dir", "", "")
		fs.IntVar(&cfg.Partitions, "partitions", 0, "")
		fs.Duration("stats-interval", 0, "")
		if err := fs.Parse(global.Args()[1:]); err != nil {
			return 2
		}
		b, err := broker.Start(ctx, cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		<-ctx.Done()
		b.Close()
	case "wait":
		fmt.Fprintln(os.Stderr, "waiting")
		<-ctx.Done()
	case "fail":
		fmt.Fprintln(os.Stderr, "the fake failed as asked")
		return 3
	case "env":
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, envPrefix) {
				return 4
			}
		}
	default:
		return 2
	}
	return 0
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestStartStop(t *testing.T) {
	t.Setenv(childEnv, "1")
	var logs testkit.LockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	p, err := Start(log, "waiter", []string{"wait"}, "role", "test")
	if err != nil {
		t.Fatal(err)
	}
	if p.PID() <= 0 {
		t.Fatalf("pid %d", p.PID())
	}
	// Until it says so, SIGTERM may come before it handles the signal.
	testkit.Eventually(t, 10*time.Second, "the child to wait", func() bool { return p.Stderr() == "waiting" })
	p.Stop(log)
	select {
	case <-p.Done():
	default:
		t.Fatal("Stop returned before the child exited")
	}
	if p.Err() != nil || !strings.Contains(logs.String(), "waiter started as a child process") ||
		!strings.Contains(logs.String(), "role=test") || !strings.Contains(logs.String(), "waiter stopped") {
		t.Errorf("err %v, log:\n%s", p.Err(), logs.String())
	}
	p.Stop(log) // exited already: nothing to do
}

func TestChildFails(t *testing.T) {
	t.Setenv(childEnv, "1")
	p, err := Start(quiet(), "failer", []string{"fail"})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) || ee.ExitCode() != 3 || p.Stderr() != "the fake failed as asked" {
		t.Errorf("err %v, stderr %q", p.Err(), p.Stderr())
	}
}

func TestChildEnvironment(t *testing.T) {
	t.Setenv(childEnv, "1")
	t.Setenv("FRAMECAST_SASL_PASSWORD", "not for the child")
	p, err := Start(quiet(), "env", []string{"env"})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if p.Err() != nil {
		t.Errorf("a FRAMECAST_* variable reached the child: %v", p.Err())
	}
}

func TestStartBroker(t *testing.T) {
	t.Setenv(childEnv, "1")
	b, err := StartBroker(context.Background(), quiet(), t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop(quiet())
	opts, err := b.ClientOpts("childproc-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := testkit.Client(t, b.Addr(), opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	parts, err := kafka.CheckTopics(ctx, cl, kafka.DefaultFramesTopic, kafka.DefaultResultsTopic, kafka.DefaultDLQTopic)
	if err != nil || parts[kafka.DefaultFramesTopic] != 3 {
		t.Errorf("topics: %v, %v", parts, err)
	}
	b.Stop(quiet())
	if b.Err() != nil {
		t.Errorf("the broker exited with %v: %s", b.Err(), b.Stderr())
	}
}

func TestBrokerExitsAtStart(t *testing.T) {
	t.Setenv(childEnv, "1")
	// A file where the data directory should be: the broker cannot start.
	dir := t.TempDir() + "/file"
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := StartBroker(context.Background(), quiet(), dir, 1)
	if err == nil || !strings.Contains(err.Error(), "the broker exited at start") {
		t.Errorf("err %v", err)
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 8}
	fmt.Fprint(tb, "0123456789")
	fmt.Fprint(tb, "ab")
	if got := tb.String(); got != "456789ab" {
		t.Errorf("tail %q", got)
	}
}
