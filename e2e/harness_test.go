// Package e2e runs framecast the way a user does: the real binary, as
// separate processes, against the embedded broker on a free loopback port,
// with kcat as an independent Kafka client.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "framecast-e2e-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "framecast")
	build := exec.Command("go", "build", "-o", bin, "../cmd/framecast")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build framecast:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a framecast process with its output captured.
type proc struct {
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (p *proc) Stdout() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stdout.String() }
func (p *proc) Stderr() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stderr.String() }

// start runs framecast with args; the process is killed at the end of the
// test if still running, and its stderr is logged when the test fails.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout = lockedWriter{&p.mu, &p.stdout}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	p.cmd.Env = append(os.Environ(), "FRAMECAST_LOG_FORMAT=json")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("--- %s stderr (last 3000 bytes):\n%s", name, tail(p.Stderr(), 3000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(sig)
	}
}

// wait waits for exit and returns the exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
	if p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// broker starts `framecast broker` on a free port and waits until it
// answers metadata requests.
func broker(t *testing.T, dataDir string, extra ...string) (*proc, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := start(t, "broker", append([]string{"broker", "--listen", addr, "--data-dir", dataDir}, extra...)...)
	waitTopics(t, addr)
	return p, addr
}

func waitTopics(t *testing.T, addr string) {
	t.Helper()
	eventually(t, 30*time.Second, "broker topics at "+addr, func() bool {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			return false
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		td, err := kadm.NewClient(cl).ListTopics(ctx)
		return err == nil && td.Has("framecast.frames") && td.Has("framecast.results") && td.Has("framecast.dlq")
	})
}

// readAll consumes a topic from the beginning until idle for idle, with
// read_committed isolation, and returns the records.
func readAll(t *testing.T, addr, topic string, want int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(timeout)
	for len(out) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	// Anything beyond want (duplicates) shows up within a short grace period.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	cancel()
	return out
}

func decodeResults(t *testing.T, recs []*kgo.Record) []frame.Result {
	t.Helper()
	var out []frame.Result
	for _, r := range recs {
		if err := frame.Validate(r.Value); err != nil {
			t.Errorf("result does not match the schema: %v\n%s", err, r.Value)
		}
		var res frame.Result
		if err := json.Unmarshal(r.Value, &res); err != nil {
			t.Fatal(err)
		}
		out = append(out, res)
	}
	return out
}

// jsonLines parses newline-delimited JSON.
func jsonLines(s string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}
