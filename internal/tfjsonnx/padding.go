package tfjsonnx

import "fmt"

// samePadding returns TensorFlow's output size and begin/end padding of one
// spatial dimension for padding "SAME" (kernel k already dilated, stride s).
//
// TensorFlow puts the odd pixel of padding at the END
// (pad_begin = total/2), which is why the ONNX graph gets explicit,
// possibly asymmetric pads instead of auto_pad or symmetric padding.
func samePadding(in, k, s int64) (out, begin, end int64) {
	out = (in + s - 1) / s // ceil(in / s)
	total := (out-1)*s + k - in
	if total < 0 {
		total = 0
	}
	begin = total / 2
	return out, begin, total - begin
}

// spatialPads returns the output size and begin/end pads of one spatial
// dimension under any supported padding mode. axis is 0 for H, 1 for W and
// only selects the EXPLICIT entries.
func spatialPads(in, k, s int64, p padding, axis int) (out, begin, end int64, err error) {
	switch p.mode {
	case "SAME":
		out, begin, end = samePadding(in, k, s)
	case "VALID":
		if in < k {
			return 0, 0, 0, fmt.Errorf("VALID padding: input size %d smaller than kernel %d", in, k)
		}
		out = (in-k)/s + 1
	case "EXPLICIT":
		begin, end = p.explicit[2*axis], p.explicit[2*axis+1]
		padded := in + begin + end
		if padded < k {
			return 0, 0, 0, fmt.Errorf("EXPLICIT padding: padded size %d smaller than kernel %d", padded, k)
		}
		out = (padded-k)/s + 1
	default:
		return 0, 0, 0, fmt.Errorf("unsupported padding %q", p.mode)
	}
	return out, begin, end, nil
}
