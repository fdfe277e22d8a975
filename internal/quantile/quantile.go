// Package quantile is framecast's one rule for percentiles: the stats line
// of `process`, the dashboard, `bench` and the soak report all mean the
// same thing by "p99".
//
// The rule is nearest rank: the q-quantile of n samples is the smallest
// sample that at least q·n of the samples do not exceed, the ⌈q·n⌉-th in
// ascending order. It is chosen over linear interpolation because
//
//   - it always answers with a latency that was measured, never one made up
//     between two samples;
//   - on a tail it errs high, not low: the p99 of fewer than 100 samples is
//     their maximum, which is the honest answer for a latency target;
//   - it needs no arithmetic on the values, so time.Duration and integer
//     counts work as they are.
//
// With many samples the two rules differ by less than the spacing of
// neighbouring samples.
package quantile

import (
	"cmp"
	"math"
	"slices"
)

// Rank returns the index, in n samples sorted in ascending order, of their
// q-quantile: ⌈q·n⌉ − 1, clamped to [0, n−1]. q is a fraction (0.99 for
// p99). n must be positive.
func Rank(n int, q float64) int {
	// q·n is often a whole number that floating point misses by an ulp
	// (0.29·100 = 28.999999999999996, 0.57·100 = 57.00000000000001):
	// round it to 9 decimals first, far finer than one sample, so that
	// ⌈·⌉ does not step past the true rank.
	r := math.Round(q*float64(n)*1e9) / 1e9
	return min(max(int(math.Ceil(r))-1, 0), n-1)
}

// Sorted returns the q-quantile of samples sorted in ascending order, or
// the zero value when there are none.
func Sorted[T cmp.Ordered](sorted []T, q float64) T {
	if len(sorted) == 0 {
		var zero T
		return zero
	}
	return sorted[Rank(len(sorted), q)]
}

// Of returns the q-quantile of xs, or the zero value when there are none.
// It sorts xs in place: callers that take several quantiles of one set
// pay for one sort (the later calls find xs sorted), and may read the
// minimum and maximum at its ends afterwards.
func Of[T cmp.Ordered](xs []T, q float64) T {
	if !slices.IsSorted(xs) {
		slices.Sort(xs)
	}
	return Sorted(xs, q)
}
