package procstat

import (
	"fmt"
	"os"
)

// Memory returns the resident set size (VmRSS) of process pid and its
// peak (VmHWM), in bytes. A zombie has neither: both are 0.
func Memory(pid int) (rss, hwm int64, err error) {
	if pid <= 0 {
		return 0, 0, errNoProcess
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	rss, hwm = parseStatus(data)
	return rss, hwm, nil
}

// ProcessCPU returns the CPU time (user + system) process pid has used, in
// ticks (TicksPerSecond).
func ProcessCPU(pid int) (int64, error) {
	if pid <= 0 {
		return 0, errNoProcess
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcessStat(data)
}

// MachineCPU returns the machine's CPU time since boot.
func MachineCPU() (Machine, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Machine{}, err
	}
	return parseMachineStat(data)
}

// LoadAvg returns the 1, 5 and 15 minute load averages (zeros when
// unreadable).
func LoadAvg() [3]float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return [3]float64{}
	}
	return parseLoadAvg(data)
}

// CPUModel returns the name of the first CPU ("" when unknown).
func CPUModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	return parseCPUModel(data)
}
