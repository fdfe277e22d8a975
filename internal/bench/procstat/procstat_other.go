//go:build !linux

package procstat

// Memory fails with ErrUnavailable: there is no /proc here.
func Memory(pid int) (rss, hwm int64, err error) {
	if pid <= 0 {
		return 0, 0, errNoProcess
	}
	return 0, 0, ErrUnavailable
}

// ProcessCPU fails with ErrUnavailable: there is no /proc here.
func ProcessCPU(pid int) (int64, error) {
	if pid <= 0 {
		return 0, errNoProcess
	}
	return 0, ErrUnavailable
}

// MachineCPU fails with ErrUnavailable: there is no /proc here.
func MachineCPU() (Machine, error) { return Machine{}, ErrUnavailable }

// LoadAvg returns zeros: there is no /proc/loadavg here.
func LoadAvg() [3]float64 { return [3]float64{} }

// CPUModel returns "": there is no /proc/cpuinfo here.
func CPUModel() string { return "" }
