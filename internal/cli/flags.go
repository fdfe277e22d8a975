package cli

import "time"

// offIfZero maps a duration flag's "0: never" onto the packages' one
// convention: in a Config, a zero field means its documented default and a
// negative duration means never (off).
func offIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
