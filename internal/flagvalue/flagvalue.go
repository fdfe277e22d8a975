// Package flagvalue holds the flag.Value types every command shares, so a
// size, a list or an optional number is written and parsed the same way
// by every flag: sizes with units (8MiB), repeatable lists, numbers that
// know whether they were given.
package flagvalue

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// Size is the one byte size flag of every command: 1048576, 1MiB, 512KiB, 1GiB (powers of
// 1024) or 1MB, 1GB (powers of 1000).
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1},
}

func (b *Size) Set(s string) error {
	v := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	// Base 0 without a unit, so 0x4000000 and 67_108_864 work as they did
	// when these flags were plain integers.
	base := 10
	if mult == 1 {
		base = 0
	}
	n, err := strconv.ParseInt(v, base, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q: want a positive size such as 8388608, 8MiB or 1GiB", s)
	}
	*b = Size(n * mult)
	return nil
}

func (b *Size) String() string {
	n := int64(*b)
	for _, u := range []struct {
		name string
		mult int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// sizeVar defines a Size flag that sets *p, with default def: the
// Configs hold sizes as int64 bytes.
func SizeVar(fs *flag.FlagSet, p *int64, name string, def int64, usage string) {
	*p = def
	fs.Var((*Size)(p), name, usage)
}

// OptionalInt is an int flag that knows whether it was given, so that an
// explicit --every 0 is an error rather than the default.
type OptionalInt struct {
	Value int
	Given bool
}

func (o *OptionalInt) String() string {
	if o == nil || !o.Given {
		return ""
	}
	return strconv.Itoa(o.Value)
}

func (o *OptionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want a whole number")
	}
	o.Value, o.Given = n, true
	return nil
}

// OptionalFloat is OptionalInt for numbers.
type OptionalFloat struct {
	Value float64
	Given bool
}

func (o *OptionalFloat) String() string {
	if o == nil || !o.Given {
		return ""
	}
	return strconv.FormatFloat(o.Value, 'g', -1, 64)
}

func (o *OptionalFloat) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("want a number")
	}
	o.Value, o.Given = f, true
	return nil
}

// List is a flag that may be repeated; each use appends a value.
type List []string

func (s *List) String() string { return strings.Join(*s, " ") }

func (s *List) Set(v string) error {
	*s = append(*s, v)
	return nil
}
