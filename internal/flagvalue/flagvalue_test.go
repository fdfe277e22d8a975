package flagvalue

import (
	"flag"
	"testing"
)

func TestSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		str  string
	}{
		{"8388608", 8 << 20, "8MiB"}, {"8MiB", 8 << 20, "8MiB"}, {"8mib", 8 << 20, "8MiB"}, {"512KiB", 512 << 10, "512KiB"},
		{"1GiB", 1 << 30, "1GiB"}, {"8MB", 8e6, "8000000"}, {" 2 m ", 2 << 20, "2MiB"}, {"1500", 1500, "1500"}, {"0x4000000", 64 << 20, "64MiB"}, {"67_108_864", 64 << 20, "64MiB"},
	} {
		var s Size
		if err := s.Set(c.in); err != nil || int64(s) != c.want || s.String() != c.str {
			t.Errorf("%q: %d %q %v; want %d %q", c.in, s, s.String(), err, c.want, c.str)
		}
	}
	for _, bad := range []string{"", "0", "-1", "1.5MiB", "MiB", "1TiB", "9999999999999GiB", "ten"} {
		var s Size
		if err := s.Set(bad); err == nil {
			t.Errorf("%q accepted as %d", bad, s)
		}
	}
}

func TestSizeVarAndOptional(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var n int64
	var every OptionalInt
	var fps OptionalFloat
	var l List
	SizeVar(fs, &n, "max", 64<<20, "`size` bound")
	fs.Var(&every, "every", "")
	fs.Var(&fps, "fps", "")
	fs.Var(&l, "source", "")
	if n != 64<<20 {
		t.Fatalf("default %d", n)
	}
	if err := fs.Parse([]string{"--max", "1MiB", "--every", "0", "--source", "a", "--source", "b"}); err != nil {
		t.Fatal(err)
	}
	if n != 1<<20 || !every.Given || every.Value != 0 || fps.Given || len(l) != 2 || l.String() != "a b" {
		t.Errorf("max %d, every %+v, fps %+v, list %q", n, every, fps, l)
	}
	if err := fs.Parse([]string{"--every", "x"}); err == nil {
		t.Error("--every x accepted")
	}
}
