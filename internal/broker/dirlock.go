package broker

import "fmt"

// DataDirInUseError is returned by Start when another broker holds
// the data directory.
type DataDirInUseError struct {
	Dir string
	// Holder is the pid of the broker that holds it, 0 if unknown.
	Holder int
	// Stale is the lock file to delete if no broker runs, on systems
	// without flock(2), where a killed broker leaves its lock behind.
	Stale string
}

func (e *DataDirInUseError) Error() string {
	who := "another broker"
	if e.Holder > 0 {
		who = fmt.Sprintf("another broker (pid %d)", e.Holder)
	}
	msg := fmt.Sprintf("broker data directory %s is in use by %s: two brokers on one directory corrupt it; "+
		"stop the other one, or give this one its own --data-dir", e.Dir, who)
	if e.Stale != "" {
		msg += fmt.Sprintf(" (if no broker runs, delete %s)", e.Stale)
	}
	return msg
}
