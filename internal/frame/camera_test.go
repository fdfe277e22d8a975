package frame

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestValidCamera(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"", false},
		{"lobby", true},
		{"caméra-1", true},
		{strings.Repeat("x", MaxCameraLen), true},
		{strings.Repeat("x", MaxCameraLen+1), false},
		{strings.Repeat("é", MaxCameraLen/2), true}, // 128 bytes
		{strings.Repeat("é", MaxCameraLen/2+1), false},
		{"bad\xffutf8", false},
	} {
		if got := ValidCamera(tc.id); got != tc.want {
			t.Errorf("ValidCamera(%.20q…) = %v, want %v", tc.id, got, tc.want)
		}
		if err := CheckCamera(tc.id); (err == nil) != tc.want {
			t.Errorf("CheckCamera(%.20q…) = %v", tc.id, err)
		} else if err != nil && !strings.Contains(err.Error(), "want 1 to 128 bytes of UTF-8") {
			t.Errorf("CheckCamera error %q does not say what an id must be", err)
		}
		// DecodeMeta applies the same rule to record keys (an empty key
		// has a fallback id, so it is not refused).
		if tc.id == "" {
			continue
		}
		if _, err := DecodeMeta(&kgo.Record{Key: []byte(tc.id)}); (err == nil) != tc.want {
			t.Errorf("DecodeMeta(key %.20q…) = %v", tc.id, err)
		}
	}
}
