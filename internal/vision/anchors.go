package vision

// DetectorSize is BlazeFace's (full-range "back" variant) input side.
const DetectorSize = 256

// numAnchors is 16×16×2 + 8×8×6.
const numAnchors = 896

// anchors are the fixed anchor centres in detector-input pixels, in the
// order of the concatenated model outputs: the 16×16 grid (stride 16, two
// anchors per cell) first, then the 8×8 grid (stride 32, six per cell).
var anchors = func() [numAnchors][2]float32 {
	var a [numAnchors][2]float32
	i := 0
	for _, spec := range []struct{ stride, per int }{{16, 2}, {32, 6}} {
		n := (DetectorSize + spec.stride - 1) / spec.stride
		for gy := 0; gy < n; gy++ {
			ay := float32(spec.stride) * (float32(gy) + 0.5)
			for gx := 0; gx < n; gx++ {
				ax := float32(spec.stride) * (float32(gx) + 0.5)
				for k := 0; k < spec.per; k++ {
					a[i] = [2]float32{ax, ay}
					i++
				}
			}
		}
	}
	return a
}()
