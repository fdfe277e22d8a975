package tfjsonnx

import (
	"reflect"
	"strings"
	"testing"
)

func TestSamePadding(t *testing.T) {
	cases := []struct {
		in, k, s        int64
		out, begin, end int64
	}{
		{256, 5, 2, 128, 1, 2}, // BlazeFace first conv: odd pixel goes to the end
		{128, 3, 1, 128, 1, 1},
		{128, 3, 2, 64, 0, 1},
		{64, 2, 2, 32, 0, 0}, // 2x2/2 pool on even input needs no padding
		{9, 2, 2, 5, 0, 1},
		{9, 3, 2, 5, 1, 1},
		{11, 3, 2, 6, 1, 1},
		{10, 3, 2, 5, 0, 1},
		{15, 3, 2, 8, 1, 1}, // emotion 3x3/2 max pool
		{8, 3, 2, 4, 0, 1},
		{5, 1, 1, 5, 0, 0},
		{1, 3, 1, 1, 1, 1},
		{4, 1, 3, 2, 0, 0}, // kernel smaller than stride: total clamps at 0
		{7, 4, 3, 3, 1, 2},
	}
	for _, c := range cases {
		out, b, e := samePadding(c.in, c.k, c.s)
		if out != c.out || b != c.begin || e != c.end {
			t.Errorf("samePadding(in=%d,k=%d,s=%d) = %d,%d,%d want %d,%d,%d",
				c.in, c.k, c.s, out, b, e, c.out, c.begin, c.end)
		}
	}
}

func TestSpatialPads(t *testing.T) {
	ex := padding{mode: "EXPLICIT", explicit: [4]int64{1, 2, 3, 0}}
	cases := []struct {
		name            string
		in, k, s        int64
		p               padding
		axis            int
		out, begin, end int64
		err             string
	}{
		{"valid", 64, 3, 2, padding{mode: "VALID"}, 0, 31, 0, 0, ""},
		{"valid exact", 5, 5, 1, padding{mode: "VALID"}, 0, 1, 0, 0, ""},
		{"valid too small", 2, 3, 1, padding{mode: "VALID"}, 0, 0, 0, 0, "smaller than kernel"},
		{"same", 9, 3, 2, padding{mode: "SAME"}, 1, 5, 1, 1, ""},
		{"explicit h", 9, 3, 2, ex, 0, 5, 1, 2, ""},
		{"explicit w", 9, 3, 2, ex, 1, 5, 3, 0, ""},
		{"explicit too small", 1, 7, 1, ex, 0, 0, 0, 0, "smaller than kernel"},
		{"bad mode", 9, 3, 1, padding{mode: "FULL"}, 0, 0, 0, 0, "unsupported padding"},
	}
	for _, c := range cases {
		out, b, e, err := spatialPads(c.in, c.k, c.s, c.p, c.axis)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err = %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || out != c.out || b != c.begin || e != c.end {
			t.Errorf("%s: got %d,%d,%d,%v want %d,%d,%d", c.name, out, b, e, err, c.out, c.begin, c.end)
		}
	}
}

func TestReshapeShape(t *testing.T) {
	cases := []struct {
		in, target, want []int64
		err              string
	}{
		{[]int64{1, 16, 16, 2}, []int64{1, 512, 1}, []int64{1, 512, 1}, ""},
		{[]int64{1, 8, 8, 96}, []int64{1, 384, 16}, []int64{1, 384, 16}, ""},
		{[]int64{1, 4, 4, 2}, []int64{-1, 4}, []int64{8, 4}, ""},
		{[]int64{-1, 2, 3, 11}, []int64{-1, 66}, []int64{-1, 66}, ""},
		{[]int64{-1, 2, 3, 11}, []int64{2, 33}, nil, "keep the batch"},
		{[]int64{-1, 2, 3, 11}, []int64{-1, 65}, nil, "keep the batch"},
		{[]int64{1, 4, 4, 2}, []int64{-1, -1}, nil, "more than one -1"},
		{[]int64{1, 4, 4, 2}, []int64{0, 32}, nil, "non-positive"},
		{[]int64{1, 4, 4, 2}, []int64{5, -1}, nil, "cannot reshape"},
		{[]int64{1, 4, 4, 2}, []int64{5, 7}, nil, "cannot reshape"},
	}
	for _, c := range cases {
		got, err := reshapeShape(c.in, c.target)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("reshape %v->%v: err = %v, want %q", c.in, c.target, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("reshape %v->%v = %v, %v want %v", c.in, c.target, got, err, c.want)
		}
	}
}

func TestBroadcast(t *testing.T) {
	cases := []struct {
		a, b, want []int64
		ok         bool
	}{
		{[]int64{-1, 4, 4, 8}, []int64{-1, 4, 4, 8}, []int64{-1, 4, 4, 8}, true},
		{[]int64{1, 4, 4, 8}, []int64{8}, []int64{1, 4, 4, 8}, true},
		{[]int64{8}, []int64{1, 4, 1, 8}, []int64{1, 4, 1, 8}, true},
		{[]int64{1, 4, 1, 8}, []int64{1, 1, 5, 1}, []int64{1, 4, 5, 8}, true},
		{[]int64{-1, 3}, []int64{2, 3}, []int64{2, 3}, true},
		{[]int64{1, 4, 4, 8}, []int64{7}, nil, false},
	}
	for _, c := range cases {
		got, ok := broadcast(c.a, c.b)
		if ok != c.ok || (ok && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("broadcast(%v,%v) = %v,%v want %v,%v", c.a, c.b, got, ok, c.want, c.ok)
		}
	}
}
