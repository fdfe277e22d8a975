package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		cmdline []string
		env     string
		cmd     string
		addr    string
	}{
		{nil, ":9090", "", ":9090"},
		{[]string{"framecast", "process", "--brokers", "b:9092"}, ":9090", "process", ":9090"},
		{[]string{"framecast", "process", "--metrics-listen", ":9100"}, ":9090", "process", ":9100"},
		{[]string{"framecast", "process", "-metrics-listen=:9101"}, ":9090", "process", ":9101"},
		{[]string{"framecast", "--log-level", "debug", "--metrics-listen=:1", "broker", "--metrics-listen=:2"}, "", "broker", ":2"},
		{[]string{"framecast", "--log-format=json", "view"}, ":9090", "view", ":9090"},
		// An empty value turns the endpoint off, as it does in framecast.
		{[]string{"framecast", "publish", "--metrics-listen="}, ":9090", "publish", ""},
		{[]string{"/sbin/docker-init", "--", "framecast", "process", "--metrics-listen", ":9102"}, ":9090", "process", ":9102"},
		{[]string{"/sbin/docker-init", "--"}, ":9090", "", ":9090"},
		{[]string{"framecast", "analyze", "--", "--metrics-listen", ":9103"}, ":9090", "analyze", ":9090"},
		{[]string{"framecast", "process", "---metrics-listen", ":9104"}, ":9090", "process", ":9090"},
		{[]string{"framecast", "results", "--count", "3"}, ":9090", "results", ":9090"},
	} {
		args := framecastArgs(tc.cmdline)
		if got := command(args); got != tc.cmd {
			t.Errorf("command(%q) = %q, want %q", tc.cmdline, got, tc.cmd)
		}
		if got := listenAddr(args, tc.env); got != tc.addr {
			t.Errorf("listenAddr(%q, %q) = %q, want %q", tc.cmdline, tc.env, got, tc.addr)
		}
	}
	for _, cmd := range []string{"broker", "publish", "process", "view", "demo"} {
		if !serving[cmd] {
			t.Errorf("%s serves /healthz", cmd)
		}
	}
	if serving["results"] || serving["version"] {
		t.Error("results and version serve no /healthz")
	}
}

func TestHealthURL(t *testing.T) {
	for addr, want := range map[string]string{
		":9090":          "http://127.0.0.1:9090/healthz",
		"0.0.0.0:9090":   "http://127.0.0.1:9090/healthz",
		"[::]:9090":      "http://127.0.0.1:9090/healthz",
		"10.1.2.3:9090":  "http://10.1.2.3:9090/healthz",
		"localhost:9090": "http://localhost:9090/healthz",
		"[fd00::1]:9090": "http://[fd00::1]:9090/healthz",
	} {
		if got, err := healthURL(addr); err != nil || got != want {
			t.Errorf("healthURL(%q) = %q, %v, want %q", addr, got, err, want)
		}
	}
	if _, err := healthURL("9090"); err == nil {
		t.Error("healthURL(9090): want an error")
	}
}

func TestCheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	url, err := healthURL(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if err := check(url); err != nil {
		t.Errorf("200: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := check(url); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("503: %v, want an error naming the status", err)
	}
	srv.Close()
	if err := check(url); err == nil {
		t.Error("closed server: want an error")
	}
}

// TestAddressFromConfig: with neither the flag nor the variable, the
// --config file's metrics-listen is the address (relative to framecast's
// directory, or named by FRAMECAST_CONFIG); the flag and the variable
// win over it, as in framecast.
func TestAddressFromConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fc.yaml"), []byte("brokers: kafka:9092\nmetrics-listen: \":9464\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		env  func(string) (string, bool)
		want string
	}{
		{"file, relative", []string{"process", "--config", "fc.yaml"}, env(), ":9464"},
		{"file, absolute, =", []string{"process", "--config=" + filepath.Join(dir, "fc.yaml")}, env(), ":9464"},
		{"file by FRAMECAST_CONFIG", []string{"process"}, env("FRAMECAST_CONFIG", "fc.yaml"), ":9464"},
		{"the variable wins", []string{"process", "--config", "fc.yaml"}, env(envListen, ":9090"), ":9090"},
		{"the variable set empty wins (off)", []string{"process", "--config", "fc.yaml"}, env(envListen, ""), ""},
		{"the flag wins", []string{"process", "--config", "fc.yaml", "--metrics-listen", ":1"}, env(envListen, ":9090"), ":1"},
		{"no file", []string{"process", "--config", "missing.yaml"}, env(), ""},
		{"nothing", []string{"process"}, env(), ""},
	} {
		if got := address(tc.args, tc.env, dir); got != tc.want {
			t.Errorf("%s: address = %q, want %q", tc.name, got, tc.want)
		}
	}
}
