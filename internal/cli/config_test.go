package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeConfig writes a --config file and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "framecast.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFile: every command takes --config (or FRAMECAST_CONFIG); a
// flag still unset after the command line and the environment comes from
// the file, checked as the flag would be; unknown keys are usage errors
// naming the key and the command.
func TestConfigFile(t *testing.T) {
	cfg := writeConfig(t, "# results, from the file\nfrom: sideways\ncount: 5\ncamera: [lobby, door]\n")
	for _, tc := range []struct {
		name string
		env  string // FRAMECAST_FROM
		args []string
		want string
	}{
		{"the file's value takes effect", "", nil, `--from "sideways"`},
		{"the environment beats the file", "nowhere", nil, `--from "nowhere"`},
		{"the flag beats both", "nowhere", []string{"--from", "elsewhere"}, `--from "elsewhere"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("FRAMECAST_FROM", tc.env)
			}
			code, _, stderr := runCLI(t, nil, append([]string{"results", "--config", cfg}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}

	bad := writeConfig(t, "brokers: 127.0.0.1:9092\nbrokerz: 127.0.0.1:9093\n")
	code, _, stderr := runCLI(t, nil, "results", "--config", bad)
	for _, want := range []string{"framecast results:", `line 2: unknown key "brokerz"`, `did you mean "brokers"?`} {
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("unknown key: exit %d, stderr %q; want 2 and %q", code, stderr, want)
		}
	}

	// FRAMECAST_CONFIG names the file as --config does; the value reaches
	// the command (an empty cache, exit 1, naming the file's directory).
	// The environment beats the file, and `make test` exports
	// FRAMECAST_HOME: unset it for this case (restored after the test).
	t.Setenv("FRAMECAST_HOME", "")
	os.Unsetenv("FRAMECAST_HOME")
	home := t.TempDir()
	t.Setenv("FRAMECAST_CONFIG", writeConfig(t, "home: "+home+"\n"))
	if code, _, stderr := runCLI(t, nil, "models", "list"); code != 1 || !strings.Contains(stderr, "nothing installed in "+home) {
		t.Errorf("models list from FRAMECAST_CONFIG: exit %d, stderr %q", code, stderr)
	}
}

// TestConfigFileCountsAsGiven: a flag from the file is given, as one from
// the command line or the environment (demo: --cameras and --source
// exclude each other).
func TestConfigFileCountsAsGiven(t *testing.T) {
	cfg := writeConfig(t, "cameras: 3\n")
	code, _, stderr := runCLI(t, nil, "demo", "--config", cfg, "--source", "synthetic:", "--fps", "0")
	if code != 2 || !strings.Contains(stderr, "exclude each other") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestConfigFileHelp: the root usage and every command's name the file.
func TestConfigFileHelp(t *testing.T) {
	if _, out, _ := runCLI(t, nil, "help"); !strings.Contains(out, "flags > FRAMECAST_* environment > --config file") {
		t.Errorf("root usage does not give the precedence:\n%s", out)
	}
	for _, c := range commands() {
		args := []string{c.name, "--help"}
		if c.name == "models" {
			args = []string{"models", "list", "--help"}
		}
		code, _, stderr := runCLI(t, nil, args...)
		if code != 0 || !strings.Contains(stderr, "-config file") || !strings.Contains(stderr, "in the --config file") {
			t.Errorf("%v: exit %d, usage does not mention --config:\n%s", args, code, stderr)
		}
	}
}
