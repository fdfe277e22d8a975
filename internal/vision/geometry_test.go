package vision

import (
	"math"
	"testing"
)

func TestIoU(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b Rect
		want float64
	}{
		{"identical", Rect{0, 0, 10, 10}, Rect{0, 0, 10, 10}, 1},
		{"disjoint", Rect{0, 0, 10, 10}, Rect{20, 20, 30, 30}, 0},
		{"touching", Rect{0, 0, 10, 10}, Rect{10, 0, 20, 10}, 0},
		{"half overlap", Rect{0, 0, 10, 10}, Rect{5, 0, 15, 10}, 50.0 / 150},
		{"contained", Rect{0, 0, 10, 10}, Rect{2, 2, 7, 7}, 25.0 / 100},
		{"degenerate", Rect{0, 0, 0, 10}, Rect{0, 0, 10, 10}, 0},
		{"inverted", Rect{10, 10, 0, 0}, Rect{0, 0, 10, 10}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IoU(tc.a, tc.b); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("IoU = %v, want %v", got, tc.want)
			}
			if got := IoU(tc.b, tc.a); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("IoU not symmetric: %v", got)
			}
		})
	}
}

func TestNMS(t *testing.T) {
	c := func(idx int, s float32, x float64) candidate {
		return candidate{idx: idx, score: s, box: Rect{x, 0, x + 10, 10}}
	}
	for _, tc := range []struct {
		name  string
		in    []candidate
		iou   float64
		max   int
		order []int
	}{
		{"keeps best of overlapping", []candidate{c(0, 0.6, 0), c(1, 0.9, 1), c(2, 0.7, 50)}, 0.1, 10, []int{1, 2}},
		{"low overlap survives at 0.5", []candidate{c(0, 0.6, 0), c(1, 0.9, 5)}, 0.5, 10, []int{1, 0}},
		{"max output", []candidate{c(0, 0.6, 0), c(1, 0.9, 100), c(2, 0.7, 50)}, 0.1, 2, []int{1, 2}},
		{"ties keep anchor order", []candidate{c(3, 0.8, 0), c(1, 0.8, 100)}, 0.1, 10, []int{3, 1}},
		{"empty", nil, 0.1, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nms(append([]candidate(nil), tc.in...), tc.iou, tc.max, nil)
			if len(got) != len(tc.order) {
				t.Fatalf("kept %d, want %d: %+v", len(got), len(tc.order), got)
			}
			for i, k := range got {
				if k.idx != tc.order[i] {
					t.Errorf("kept[%d] = anchor %d, want %d", i, k.idx, tc.order[i])
				}
			}
		})
	}
}

func TestJSRound(t *testing.T) {
	// Math.round in JavaScript: halves towards +∞.
	for in, want := range map[float64]float64{2.5: 3, -2.5: -2, -2.51: -3, 0.49: 0, -0.5: 0, 7: 7} {
		if got := jsRound(in); got != want {
			t.Errorf("jsRound(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestCropBox(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Rect
		want Rect
	}{
		// 100×60 box centred at (150,130): ×1.4 → 140×84, squared on 140.
		{"wide", Rect{100, 100, 200, 160}, Rect{80, 60, 220, 200}},
		{"square", Rect{0, 0, 10, 10}, Rect{-2, -2, 12, 12}},
		// Half-pixel corners round like JavaScript, also left of zero.
		{"negative halves", Rect{-10, -10, 5, 5}, Rect{-13, -13, 8, 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CropBox(tc.in, 1.4); got != tc.want {
				t.Errorf("CropBox(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestAnchors(t *testing.T) {
	// First anchors: two per cell at the centre of the 16-px cell (8,8).
	if anchors[0] != [2]float32{8, 8} || anchors[1] != [2]float32{8, 8} || anchors[2] != [2]float32{24, 8} {
		t.Errorf("16×16 grid starts %v %v %v", anchors[0], anchors[1], anchors[2])
	}
	if anchors[511] != [2]float32{248, 248} {
		t.Errorf("last 16×16 anchor %v", anchors[511])
	}
	// 8×8 grid: six per cell, stride 32.
	for k := 512; k < 518; k++ {
		if anchors[k] != [2]float32{16, 16} {
			t.Errorf("anchor %d = %v, want [16 16]", k, anchors[k])
		}
	}
	if anchors[895] != [2]float32{240, 240} {
		t.Errorf("last anchor %v", anchors[895])
	}
}
