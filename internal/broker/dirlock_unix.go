//go:build unix

package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFileName is the lock file in a broker's data directory. kfake only
// reads the files it wrote, so it never trips over this one.
const lockFileName = ".framecast-broker.lock"

// dirLock is an exclusive flock(2) on a data directory's lock file. The
// kernel drops it when the process dies, however it dies, so a SIGKILLed
// broker never leaves a stale lock behind.
type dirLock struct{ f *os.File }

// lockDataDir takes the directory's lock or says which process holds it.
// kfake does not lock its directory and appends to segment files with
// O_APPEND while it tracks batch positions in memory: two brokers on one
// directory interleave their batches and serve each other's bytes as
// records. The lock makes that impossible.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("broker data directory %s: opening its lock file: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &DataDirInUseError{Dir: dir, Holder: holder}
		}
		return nil, fmt.Errorf("broker data directory %s: locking it: %w", dir, err)
	}
	// The holder's pid is only for the error a second broker shows; the
	// flock is what excludes.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

func readHolder(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// unlock releases the lock; the file stays (removing it would let a
// third broker lock a new file while a second still waits on the old).
func (l *dirLock) unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
