// Package procstat reads what the kernel knows about processes and the
// machine: a process's resident memory and CPU time, the machine's busy,
// stolen and idle CPU time, the load average and the CPU model. The
// benchmarks use it to tell the bench's own cost from the broker's and the
// processor's, which run as child processes for that reason.
//
// Only Linux has /proc: elsewhere every reading fails with ErrUnavailable
// (or is zero or empty where the signature has no error), so a report says
// "unavailable" instead of the bench failing. The parsing is kept apart
// from the reading, so it is tested on every system.
package procstat

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// ErrUnavailable is the error of every reading where there is no /proc.
var ErrUnavailable = errors.New("procstat: /proc is not available on this system")

// errNoProcess is the error of a reading of pid 0 or less: a process that
// was never started (a child not yet launched).
var errNoProcess = errors.New("procstat: no process")

// TicksPerSecond is the unit of the CPU times (USER_HZ, 100 on Linux).
const TicksPerSecond = 100

// Machine is the machine's CPU time over all CPUs since boot, in ticks.
type Machine struct {
	Busy  int64 // user, nice, system, irq, softirq
	Steal int64 // taken by the hypervisor
	Idle  int64 // idle and iowait
}

// parseStatus reads VmRSS and VmHWM (bytes) from /proc/PID/status.
func parseStatus(data []byte) (rss, hwm int64) {
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			n <<= 10
		}
		if k == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	return rss, hwm
}

// parseProcessStat reads utime + stime (ticks) from /proc/PID/stat.
func parseProcessStat(data []byte) (int64, error) {
	// The command name may contain spaces and parentheses: fields
	// start after the last ')'. utime and stime are fields 14 and 15,
	// the 12th and 13th after it.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("procstat: malformed /proc stat")
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("procstat: malformed /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return u + s, nil
}

// parseMachineStat reads the first line of /proc/stat.
func parseMachineStat(data []byte) (Machine, error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return Machine{}, errors.New("procstat: malformed /proc/stat")
	}
	v := make([]int64, 8)
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	// user nice system idle iowait irq softirq steal
	return Machine{Busy: v[0] + v[1] + v[2] + v[5] + v[6], Steal: v[7], Idle: v[3] + v[4]}, nil
}

// parseLoadAvg reads the 1, 5 and 15 minute load averages.
func parseLoadAvg(data []byte) [3]float64 {
	var out [3]float64
	f := strings.Fields(string(data))
	for i := 0; i < 3 && i < len(f); i++ {
		out[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return out
}

// parseCPUModel reads the first "model name" of /proc/cpuinfo.
func parseCPUModel(data []byte) string {
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
