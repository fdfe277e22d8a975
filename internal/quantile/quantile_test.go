package quantile

import (
	"slices"
	"testing"
	"time"
)

func TestRank(t *testing.T) {
	for _, tc := range []struct {
		n    int
		q    float64
		want int
	}{
		{1, 0, 0}, {1, 0.5, 0}, {1, 0.99, 0}, {1, 1, 0},
		{2, 0.5, 0}, {2, 0.51, 1}, {2, 0.99, 1},
		{4, 0.25, 0}, {4, 0.5, 1}, {4, 0.75, 2}, {4, 0.76, 3},
		{5, 0.5, 2}, {5, 0.9, 4},
		{10, 0.5, 4}, {10, 0.9, 8}, {10, 0.91, 9}, {10, 0.99, 9},
		// q·n whole but off by an ulp in floating point.
		{100, 0.29, 28}, {100, 0.57, 56}, {100, 0.99, 98}, {100, 0.5, 49},
		{1000, 0.99, 989}, {1024, 0.5, 511}, {1024, 0.99, 1013},
		// Out of range q is clamped.
		{10, -1, 0}, {10, 0, 0}, {10, 1, 9}, {10, 2, 9},
	} {
		if got := Rank(tc.n, tc.q); got != tc.want {
			t.Errorf("Rank(%d, %v) = %d, want %d", tc.n, tc.q, got, tc.want)
		}
	}
}

func TestOf(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // 100 … 1, unsorted
	}
	for _, tc := range []struct {
		name string
		xs   []float64
		q    float64
		want float64
	}{
		{"empty", nil, 0.5, 0},
		{"one", []float64{7}, 0.99, 7},
		{"median of five", []float64{5, 1, 4, 2, 3}, 0.5, 3},
		// Nearest rank takes the lower middle of an even count.
		{"median of four", []float64{4, 1, 3, 2}, 0.5, 2},
		{"p99 of ten is the maximum", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.99, 10},
		{"p90 of ten", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 0.9, 9},
		{"p50 of 1..100", hundred, 0.5, 50},
		{"p99 of 1..100", hundred, 0.99, 99},
		{"p100 of 1..100", hundred, 1, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xs := slices.Clone(tc.xs)
			if got := Of(xs, tc.q); got != tc.want {
				t.Errorf("Of(%v) = %v, want %v", tc.q, got, tc.want)
			}
			if !slices.IsSorted(xs) {
				t.Error("Of left xs unsorted")
			}
		})
	}
}

func TestDurations(t *testing.T) {
	var d []time.Duration
	for i := 1024; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p50, p99 := Of(d, 0.5), Of(d, 0.99); p50 != 512*time.Millisecond || p99 != 1014*time.Millisecond {
		t.Errorf("p50 %v p99 %v", p50, p99)
	}
	if got := Sorted([]time.Duration(nil), 0.5); got != 0 {
		t.Errorf("no samples: %v", got)
	}
}

func BenchmarkOf1024(b *testing.B) {
	src := make([]time.Duration, 1024)
	for i := range src {
		src[i] = time.Duration((i * 7919) % 1024)
	}
	xs := make([]time.Duration, len(src))
	for b.Loop() {
		copy(xs, src)
		Of(xs, 0.5)
		Of(xs, 0.99)
	}
}
