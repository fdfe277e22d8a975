// Command healthcheck is the container image's HEALTHCHECK: it asks the
// framecast role in the same container for /healthz and exits 0 on 200,
// 1 otherwise. The image has no curl or wget, and framecast itself has no
// client for its own endpoints, so this small static program (no cgo, no
// dependencies beyond the standard library) does the one request.
//
// The address is the role's --metrics-listen, found as framecast finds it
// (flags > environment > --config file): on the command line of the
// container's first process (framecast, or an init that runs it), else in
// $FRAMECAST_METRICS_LISTEN, which the image sets to :9090, else as the
// metrics-listen key of the --config file (or $FRAMECAST_CONFIG's). A
// host of 0.0.0.0, :: or none means this container's loopback. Without any
// address, or for a command that serves no health endpoint (version,
// results, analyze…), the check passes, saying so.
//
//	healthcheck [ADDR]   # ADDR overrides both
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	envListen = "FRAMECAST_METRICS_LISTEN"
	flagName  = "metrics-listen"
	// Docker's default --timeout is 30 s; a stuck role should fail sooner.
	timeout = 3 * time.Second
)

// serving names the commands that take --metrics-listen.
var serving = map[string]bool{"broker": true, "publish": true, "process": true, "view": true, "demo": true}

func main() {
	addr := ""
	if len(os.Args) > 1 {
		addr = os.Args[1]
	} else {
		args := framecastArgs(pid1Args())
		if cmd := command(args); cmd != "" && !serving[cmd] {
			fmt.Printf("framecast %s serves no /healthz: nothing to check\n", cmd)
			return
		}
		addr = address(args, os.LookupEnv, "/proc/1/cwd")
	}
	if addr == "" {
		fmt.Println("no --metrics-listen: this command serves no /healthz, nothing to check")
		return
	}
	url, err := healthURL(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
	if err := check(url); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// pid1Args returns the command line of the container's first process.
func pid1Args() []string {
	b, err := os.ReadFile("/proc/1/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// framecastArgs returns framecast's arguments from a command line: after
// the program name, and after the "--" of an init (docker run --init's
// docker-init, tini) that runs framecast as its child.
func framecastArgs(cmdline []string) []string {
	if len(cmdline) == 0 {
		return nil
	}
	if prog := path.Base(cmdline[0]); strings.Contains(prog, "init") || strings.Contains(prog, "tini") {
		if i := slices.Index(cmdline, "--"); i >= 0 {
			cmdline = cmdline[i+1:]
		}
		if len(cmdline) == 0 {
			return nil
		}
	}
	return cmdline[1:]
}

// command returns framecast's command: the first argument that is not a
// global flag (--log-level and --log-format, whose value may follow).
func command(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a
		}
		if name := strings.TrimLeft(a, "-"); name == "log-level" || name == "log-format" {
			i++
		}
	}
	return ""
}

// address is the role's --metrics-listen by framecast's precedence: the
// flag, else the environment variable (set, even empty), else the --config
// file's key; dir is framecast's working directory, for a relative file.
func address(args []string, lookupEnv func(string) (string, bool), dir string) string {
	if hasFlag(args, flagName) {
		return listenAddr(args, "")
	}
	if v, set := lookupEnv(envListen); set {
		return v
	}
	env, _ := lookupEnv("FRAMECAST_CONFIG")
	return fileListen(flagValue(args, "config", env), dir)
}

// listenAddr finds --metrics-listen in framecast's arguments; without one
// it returns env.
func listenAddr(args []string, env string) string {
	return flagValue(args, flagName, env)
}

// hasFlag reports whether the arguments give the flag.
func hasFlag(args []string, flag string) bool {
	const none = "\x00"
	return flagValue(args, flag, none) != none
}

// fileListen is the metrics-listen key of the --config file at path
// (relative to dir, framecast's working directory), "" without a file or
// the key. framecast has already refused a file it cannot use.
func fileListen(path, dir string) string {
	if path == "" {
		return ""
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var m map[string]any
	if yaml.Unmarshal(b, &m) != nil {
		return ""
	}
	v, _ := m[flagName].(string)
	return v
}

// flagValue finds a flag (as -name or --name, with = or as the next
// argument) in framecast's arguments, the last one winning as in Go's flag
// package; without one it returns def. It stops at "--", after which
// framecast reads no flags.
func flagValue(args []string, flag, def string) string {
	found, v := false, ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name := strings.TrimLeft(a, "-")
		if dashes := len(a) - len(name); dashes != 1 && dashes != 2 {
			continue
		}
		switch {
		case name == flag && i+1 < len(args):
			found, v = true, args[i+1]
			i++
		case strings.HasPrefix(name, flag+"="):
			found, v = true, strings.TrimPrefix(name, flag+"=")
		}
	}
	if found {
		return v
	}
	return def
}

// healthURL turns a listen address into the URL of its /healthz, through
// IPv4 loopback when the role listens on every interface.
func healthURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("metrics address %q: %w", addr, err)
	}
	// [::] on Linux takes IPv4 connections too.
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

func check(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	// Docker keeps the output of the last checks (docker inspect): the
	// body names the failing check.
	fmt.Printf("%s: %s %s\n", url, resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
