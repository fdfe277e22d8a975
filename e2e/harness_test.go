// Package e2e runs framecast the way a user does: the real binary, as
// separate processes, against the embedded broker on a free loopback port,
// with kcat as an independent Kafka client.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/testkit"
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

// proc is a framecast process with its output captured.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout testkit.LockedBuffer
	stderr testkit.LockedBuffer
	done   chan struct{}
	err    error
}

func (p *proc) Stdout() string { return p.stdout.String() }
func (p *proc) Stderr() string { return p.stderr.String() }

// start runs framecast with args; the process is killed at the end of the
// test if still running, and its stderr is logged when the test fails.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
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
	addr := testkit.FreeAddr(t)
	p := start(t, "broker", append([]string{"broker", "--listen", addr, "--data-dir", dataDir}, extra...)...)
	waitTopics(t, addr)
	return p, addr
}

func waitTopics(t *testing.T, addr string) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, "broker topics at "+addr, func() bool {
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

// readAll reads a topic from the start, as testkit.ReadTopic does, with
// read_committed isolation.
func readAll(t *testing.T, addr, topic string, want int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	return testkit.ReadTopic(t, addr, topic, want, timeout, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
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
