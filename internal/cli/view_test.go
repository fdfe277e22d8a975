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

	"github.com/framecast/framecast/internal/broker"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/view"
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
		// (--fps 0: without the check, a usage error all the same, not a
		// demo that runs)
		{[]string{"demo", "--cameras", "2", "--source", "synthetic:", "--fps", "0"}, "exclude each other"},
		{[]string{"view", "--allow-origin", "ok.example.com,[bad"}, `--allow-origin: origin pattern "[bad" is malformed`},
		{[]string{"demo", "--allow-origin", `bad\`}, "--allow-origin"},
		{[]string{"view", "--allow-host", "*.example.com"}, "--allow-host"},
	} {
		code, _, stderr := runCLI(t, nil, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("framecast %s: exit %d, stderr %q; want 2 and %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
	code, _, stderr := runCLI(t, nil, "help", "view")
	if code != 0 || !strings.Contains(stderr, "--auth-token") || !strings.Contains(stderr, "FRAMECAST_AUTH_TOKEN") {
		t.Errorf("help view: exit %d:\n%s", code, stderr)
	}
	// The --allow-origin example (view.TestViewAllowOriginPatterns checks
	// that it matches origins with ports) and what it says of ports.
	for _, want := range []string{"e.g. " + view.OriginPatternExample, "without a port matches any port", "--allow-host"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("help view lacks %q:\n%s", want, stderr)
		}
	}
	// FRAMECAST_CAMERAS counts as --cameras.
	t.Setenv("FRAMECAST_CAMERAS", "3")
	if code, _, stderr := runCLI(t, nil, "demo", "--source", "synthetic:", "--fps", "0"); code != 2 || !strings.Contains(stderr, "exclude each other") {
		t.Errorf("demo --source with FRAMECAST_CAMERAS: exit %d, %q", code, stderr)
	}
}

// TestViewFlagsConfig: --allow-origin and --allow-host take
// comma-separated lists, from the command line and the environment, and
// reach the dashboard's Config (view.TestViewHostCheck: the --listen host
// is answered too).
func TestViewFlagsConfig(t *testing.T) {
	t.Setenv("FRAMECAST_ALLOW_ORIGIN", "a.example.com, *.b.example.com")
	env := &environment{stdout: io.Discard, stderr: io.Discard}
	fs := newFlagSet(env, "view", "", "")
	var vf viewFlags
	vf.register(fs)
	if err := parseFlags(fs, []string{"--listen", "dash.lan:8080", "--auth-token", "x", "--allow-host", "Proxy.example:443,other.example", "--allow-host", "third.example"}); err != nil {
		t.Fatal(err)
	}
	if errs := vf.validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	cfg := vf.config()
	origins, err := view.OriginPatterns(cfg.AllowOrigins)
	if err != nil || strings.Join(origins, " ") != "a.example.com *.b.example.com" {
		t.Errorf("origin patterns %q (%v), want two", origins, err)
	}
	hosts, err := view.HostNames(cfg.AllowHosts)
	if err != nil || strings.Join(hosts, " ") != "proxy.example other.example third.example" || cfg.Listen != "dash.lan:8080" {
		t.Errorf("hosts %q (%v), listen %q", hosts, err, cfg.Listen)
	}
}

// TestViewEnvToken: FRAMECAST_AUTH_TOKEN stands in for --auth-token, so a
// non-loopback address passes validation (and then fails on the absent
// broker, exit 1, not 2).
func TestViewEnvToken(t *testing.T) {
	t.Setenv("FRAMECAST_AUTH_TOKEN", "from-env")
	code, _, stderr := runCLI(t, nil, "view", "--listen", "0.0.0.0:0", "--brokers", "127.0.0.1:1")
	if code != 1 || strings.Contains(stderr, "--auth-token") {
		t.Errorf("exit %d, stderr %q; want 1 (no broker), no complaint about the token", code, stderr)
	}
}

// TestDemo runs `framecast demo` in-process as a user would, on free
// ports: it prints the dashboard URL, the page and /readyz answer, results
// of both synthetic cameras flow, and Ctrl-C (a real SIGINT) stops
// everything cleanly within a few seconds, exit status 0.
func TestDemo(t *testing.T) {
	testkit.RequireModels(t)
	pr, pw := io.Pipe()
	var logs testkit.LockedBuffer
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

	// Viewers that stopped reading: an MJPEG client and a WebSocket
	// client, each with a small receive buffer, so that the dashboard's
	// writes to them block. They must not hold up the stop.
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	stream := testkit.DialStalled(t, addr, "GET /stream.mjpeg?camera=demo-1 HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	testkit.DialStalled(t, addr, "GET /ws HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	frames := func() int64 {
		_, body := get("api/cameras")
		var cams struct {
			Cameras []struct {
				ID     string
				Frames int64
			}
		}
		json.Unmarshal([]byte(body), &cams)
		for _, c := range cams.Cameras {
			if c.ID == "demo-1" {
				return c.Frames
			}
		}
		return 0
	}
	// Ten frames of demo-1 (over 100 KB) since they connected: more than
	// the kernel buffers both ways take, so the writes to them block.
	from := frames()
	for deadline := time.Now().Add(30 * time.Second); frames() < from+10 || testkit.Unread(t, stream) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("demo-1 did not send 10 frames to the stalled viewers within 30 s:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond) // polling the dashboard
	}
	t.Logf("the stalled MJPEG client has %d bytes unread", testkit.Unread(t, stream))

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
		// It stops in well under a second; stalled viewers used to add
		// the dashboard's 3 s shutdown timeout.
		if took > 2500*time.Millisecond {
			t.Errorf("stopping took %v with stalled viewers, want at most 2.5 s", took)
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
	testkit.RequireSamples(t) // the demo's synthetic cameras film them
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, stderr := runCLI(t, nil, "demo", "--broker-listen", ln.Addr().String(), "--listen", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--cameras", "1", "--size", "320x240")
	if code != 1 || !strings.Contains(stderr, "in use") || !strings.Contains(stderr, "--broker-listen 127.0.0.1:0") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestViewCommand runs `framecast view` against the embedded broker: it
// prints its URL, reads both topics (/readyz 200) and stops cleanly when
// its context ends (what SIGINT does).
func TestViewCommand(t *testing.T) {
	b, err := broker.Start(context.Background(), broker.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pr, pw := io.Pipe()
	var logs testkit.LockedBuffer
	env := &environment{stdout: pw, stderr: &logs, log: slog.New(slog.NewTextHandler(&logs, nil))}
	viewer := testkit.Go(t, func(ctx context.Context) error {
		defer pw.Close()
		return runView(ctx, env, []string{"--brokers", b.Addr(), "--listen", "127.0.0.1:0", "--allow-host", "proxy.example"})
	})
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
	// Without a token: the names it answers to, and not others (DNS
	// rebinding); the health endpoints answer all.
	for _, c := range []struct {
		host, path string
		want       int
	}{
		{"127.0.0.1", "api/cameras", 200}, {"localhost", "api/cameras", 200}, {"proxy.example", "api/cameras", 200},
		{"attacker.example", "api/cameras", http.StatusMisdirectedRequest}, {"attacker.example", "", http.StatusMisdirectedRequest},
		{"attacker.example", "healthz", 200},
	} {
		req, _ := http.NewRequest(http.MethodGet, url+c.path, nil)
		req.Host = c.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("Host %s, /%s: %d, want %d", c.host, c.path, resp.StatusCode, c.want)
		}
	}
	if err := viewer.Stop(10 * time.Second); err != nil {
		t.Errorf("view returned %v after cancellation", err)
	}
}

// TestViewStallAlarmFlag: --stall-alarm and FRAMECAST_STALL_ALARM reach the
// dashboard's configuration (flags win); a negative one is refused.
func TestViewStallAlarmFlag(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		args      []string
		want      time.Duration
		bad       bool
	}{
		{name: "default", want: view.DefaultStallAlarm},
		{name: "flag", args: []string{"--stall-alarm", "5s"}, want: 5 * time.Second},
		{name: "env", env: "7s", want: 7 * time.Second},
		{name: "flag wins", env: "7s", args: []string{"--stall-alarm", "2s"}, want: 2 * time.Second},
		{name: "negative", args: []string{"--stall-alarm", "-1s"}, bad: true},
		{name: "never", args: []string{"--stall-alarm", "0"}, want: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("FRAMECAST_STALL_ALARM", tc.env)
			}
			fs := newFlagSet(&environment{stdout: io.Discard, stderr: io.Discard}, "view", "", "")
			var vf viewFlags
			vf.register(fs)
			vf.registerStallAlarm(fs)
			if err := parseFlags(fs, tc.args); err != nil {
				t.Fatal(err)
			}
			if errs := vf.validate(); (len(errs) != 0) != tc.bad {
				t.Fatalf("validate: %v, want errors %v", errs, tc.bad)
			}
			if got := vf.config().StallAlarm; !tc.bad && got != tc.want {
				t.Errorf("StallAlarm %v, want %v", got, tc.want)
			}
		})
	}
}
