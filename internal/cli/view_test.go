package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/kafka"
)

func TestViewUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"view", "--listen", "0.0.0.0:8080"}, "--auth-token"},
		{[]string{"view", "--listen", ":8080"}, "--insecure-no-auth"},
		{[]string{"view", "--listen", "nonsense"}, "host:port"},
		{[]string{"view", "extra"}, "unexpected arguments"},
		{[]string{"demo", "--listen", "0.0.0.0:0"}, "--auth-token"},
		{[]string{"demo", "--cameras", "0"}, "--cameras 0"},
		{[]string{"demo", "--broker-listen", "0.0.0.0:9092"}, "--broker-listen"},
		{[]string{"demo", "--fps", "0"}, "--fps"},
	} {
		code, _, stderr := run(t, nil, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("framecast %s: exit %d, stderr %q; want 2 and %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
	code, _, stderr := run(t, nil, "help", "view")
	if code != 0 || !strings.Contains(stderr, "--auth-token") || !strings.Contains(stderr, "FRAMECAST_AUTH_TOKEN") {
		t.Errorf("help view: exit %d:\n%s", code, stderr)
	}
}

// TestViewEnvToken: FRAMECAST_AUTH_TOKEN stands in for --auth-token, so a
// non-loopback address passes validation (and then fails on the absent
// broker, exit 1, not 2).
func TestViewEnvToken(t *testing.T) {
	t.Setenv("FRAMECAST_AUTH_TOKEN", "from-env")
	code, _, stderr := run(t, nil, "view", "--listen", "0.0.0.0:0", "--brokers", "127.0.0.1:1")
	if code != 1 || strings.Contains(stderr, "--auth-token") {
		t.Errorf("exit %d, stderr %q; want 1 (no broker), no complaint about the token", code, stderr)
	}
}

// TestDemo runs `framecast demo` in-process as a user would, on free
// ports: it prints the dashboard URL, the page and /readyz answer, results
// of both synthetic cameras flow, and Ctrl-C (a real SIGINT) stops
// everything cleanly within a few seconds, exit status 0.
func TestDemo(t *testing.T) {
	pr, pw := io.Pipe()
	var logs procBuffer
	codec := make(chan int, 1)
	// A safety net: should SIGINT arrive after Main stopped listening for
	// it, it must not kill the test binary.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	go func() {
		codec <- Main([]string{"--log-format", "text", "demo",
			"--broker-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
			"--cameras", "2", "--fps", "4", "--size", "320x240", "--concurrency", "1", "--threads", "1"},
			nil, pw, &logs)
		pw.Close()
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "http://") {
				urls <- sc.Text()
			}
		}
		io.Copy(io.Discard, pr)
	}()
	var url string
	select {
	case url = <-urls:
	case code := <-codec:
		t.Fatalf("demo exited %d before printing the URL:\n%s", code, logs.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("no URL on stdout within 2 minutes:\n%s", logs.String())
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/") {
		t.Fatalf("URL %q", url)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(""); code != 200 || !strings.Contains(body, "framecast") {
		t.Errorf("the page: %d %.200s", code, body)
	}
	deadline := time.Now().Add(90 * time.Second)
	flowing := false
	for time.Now().Before(deadline) && !flowing {
		code, _ := get("readyz")
		_, body := get("api/cameras")
		var cams struct {
			Cameras []struct {
				ID      string
				Frames  int64
				Results int64
			}
		}
		json.Unmarshal([]byte(body), &cams)
		n := 0
		for _, c := range cams.Cameras {
			if (c.ID == "demo-1" || c.ID == "demo-2") && c.Results >= 3 {
				n++
			}
		}
		flowing = code == 200 && n == 2
		if !flowing {
			time.Sleep(100 * time.Millisecond) // polling the dashboard
		}
	}
	if !flowing {
		t.Fatalf("no results of demo-1 and demo-2 on the dashboard within 90 s:\n%s", logs.String())
	}

	start := time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-codec:
		took := time.Since(start)
		if code != 0 {
			t.Errorf("exit %d after Ctrl-C, want 0:\n%s", code, logs.String())
		}
		if took > 5*time.Second {
			t.Errorf("stopping took %v, want a few seconds at most", took)
		}
		t.Logf("stopped %v after SIGINT", took.Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo did not stop within 30 s of SIGINT:\n%s", logs.String())
	}
	for _, want := range []string{"processor stopped", "dashboard stopped", "embedded Kafka broker stopped", "demo stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if _, err := http.Get(url + "healthz"); err == nil {
		t.Error("the dashboard still answers after the demo stopped")
	}
}

// TestDemoBrokerPortTaken: a busy --broker-listen port is explained, with
// the way out.
func TestDemoBrokerPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, stderr := run(t, nil, "demo", "--broker-listen", ln.Addr().String(), "--listen", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--cameras", "1", "--size", "320x240")
	if code != 1 || !strings.Contains(stderr, "in use") || !strings.Contains(stderr, "--broker-listen 127.0.0.1:0") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestViewCommand runs `framecast view` against the embedded broker: it
// prints its URL, reads both topics (/readyz 200) and stops cleanly when
// its context ends (what SIGINT does).
func TestViewCommand(t *testing.T) {
	b, err := kafka.StartBroker(context.Background(), kafka.BrokerConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pr, pw := io.Pipe()
	var logs procBuffer
	env := &environment{stdout: pw, stderr: &logs, log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runView(ctx, env, []string{"--brokers", b.Addr(), "--listen", "127.0.0.1:0"})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://127.0.0.1:") {
		t.Fatalf("first stdout line %q (%v):\n%s", line, err, logs.String())
	}
	go io.Copy(io.Discard, pr)
	url := strings.TrimSpace(line)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 30 s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("view returned %v after cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("view did not stop within 10 s")
	}
}
