package bench_test

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/framecast/framecast/internal/cli"
)

// testMainEnv makes the test binary run framecast instead of the tests:
// the pipeline and soak benches start their broker and processor as child
// processes from os.Executable(), which in a test is this binary. (Not
// FRAMECAST_*: the benches keep those variables from their children.)
const testMainEnv = "FRAMECASTTEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(testMainEnv) == "1" {
		os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// processAlive reports whether pid is a live (not zombie) process.
func processAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i < 0 || !bytes.HasPrefix(bytes.TrimSpace(data[i+1:]), []byte("Z"))
}
