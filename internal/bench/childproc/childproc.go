// Package childproc runs framecast subcommands as child processes of the
// running framecast: the benchmarks start the broker (and the soak the
// processor) this way, so that each one's memory and CPU can be read from
// /proc apart from the bench's own (internal/procstat).
//
// A child is this same executable, with warnings only, as text, kept in a
// tail buffer for error messages, and without the FRAMECAST_* environment:
// a bench's broker must not pick up, say, SASL settings meant for a
// production cluster. On Linux it has a process group of its own (a Ctrl-C
// on the terminal reaches only the parent, which stops its children itself,
// in order) and is sent SIGTERM if the parent dies.
package childproc

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// envPrefix is the prefix of the environment variables a child does not
// inherit (the cli package's flag fallbacks).
const envPrefix = "FRAMECAST_"

// StopTimeout is how long Stop waits after SIGTERM before it kills.
const StopTimeout = 15 * time.Second

// stderrTail is how much of a child's stderr is kept.
const stderrTail = 64 << 10

// Process is a framecast subcommand running as a child process.
type Process struct {
	name   string
	cmd    *exec.Cmd
	stderr *tailBuffer
	done   chan struct{}
	err    error // of Wait, once done is closed
}

// Start runs this executable with args (a subcommand and its flags) as a
// child named name in the log, and logs its start with attrs.
func Start(log *slog.Logger, name string, args []string, attrs ...any) (*Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the framecast executable for the %s: %w", name, err)
	}
	p := &Process{name: name, stderr: &tailBuffer{max: stderrTail}, done: make(chan struct{})}
	p.cmd = exec.Command(exe, append([]string{"--log-level", "warn", "--log-format", "text"}, args...)...)
	p.cmd.Env = environ()
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = sysProcAttr()
	started := make(chan error, 1)
	go func() {
		// Linux's parent-death signal fires when the thread that
		// started the child ends: keep this one alive, locked, for the
		// child's lifetime.
		runtime.LockOSThread()
		if err := p.cmd.Start(); err != nil {
			started <- err
			runtime.UnlockOSThread()
			return
		}
		started <- nil
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting the %s (%s %s): %w", name, exe, args[0], err)
	}
	log.Info(name+" started as a child process", append([]any{"pid", p.cmd.Process.Pid}, attrs...)...)
	return p, nil
}

// PID is the child's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the child has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the child exited (exec.Cmd.Wait's error); valid once Done is
// closed.
func (p *Process) Err() error { return p.err }

// Stderr is the end of what the child wrote to stderr, trimmed.
func (p *Process) Stderr() string { return strings.TrimSpace(p.stderr.String()) }

// Stop ends the child with SIGTERM (its clean shutdown), SIGKILL after
// StopTimeout, and logs how it ended. A child that has exited already is
// left as it is.
func (p *Process) Stop(log *slog.Logger) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(StopTimeout):
		log.Warn("the "+p.name+" did not stop within 15 s of SIGTERM; killing it", "pid", p.PID())
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	if p.err != nil {
		log.Warn("the "+p.name+" exited with an error", "err", p.err, "stderr", p.Stderr())
	} else {
		log.Info(p.name+" stopped", "pid", p.PID())
	}
}

// environ is this process's environment without FRAMECAST_* variables.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	return env
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
