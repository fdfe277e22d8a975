//go:build !unix

package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const lockFileName = ".framecast-broker.lock"

// dirLock is, where flock(2) does not exist, a lock file created with
// O_EXCL and removed on close. Unlike the flock on Unix, a broker that
// is killed leaves it behind; the error says so.
type dirLock struct{ path string }

func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			b, _ := os.ReadFile(path)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &DataDirInUseError{Dir: dir, Holder: pid, Stale: path}
		}
		return nil, fmt.Errorf("broker data directory %s: creating its lock file: %w", dir, err)
	}
	_, _ = f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	f.Close()
	return &dirLock{path: path}, nil
}

func (l *dirLock) unlock() {
	if l == nil || l.path == "" {
		return
	}
	_ = os.Remove(l.path)
	l.path = ""
}
