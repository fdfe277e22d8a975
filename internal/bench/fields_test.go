package bench_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/framecast/framecast/internal/bench"
)

// TestJSONFields compares the field names of the reports' JSON with the
// golden lists in testdata (taken from reports of the bench as it was
// before it left the cli package): scripts read these names, so they must
// not change. Every slice has an element and every omitempty field a
// value, so that each name appears; the processor's counters are a map
// whose keys the real-time phase chooses.
func TestJSONFields(t *testing.T) {
	for _, tc := range []struct {
		golden string
		rep    any
	}{
		{"testdata/compute.fields", bench.ComputeReport{Images: []bench.Image{{}}}},
		{"testdata/compare.fields", bench.CompareReport{Clips: []string{"a"}, Variants: []bench.VariantReport{{Fails: "x"}}}},
		{"testdata/pipeline.fields", bench.PipelineReport{
			Host:        bench.Host{CPUModel: "cpu"},
			Realtime:    bench.Realtime{Windows: []bench.Window{{}}},
			CPU:         []bench.CPUUse{{Frames: 1, CPUMsPerFrame: 1}},
			Targets:     []bench.Target{{}},
			Interrupted: true,
		}},
	} {
		data, err := json.Marshal(tc.rep)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatal(err)
		}
		var got []string
		fieldPaths(v, "", &got)
		slices.Sort(got)
		want, err := os.ReadFile(tc.golden)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := strings.Join(got, "\n"), strings.TrimSpace(string(want)); g != w {
			t.Errorf("%s: the JSON fields changed:\n%s\nwant:\n%s", tc.golden, g, w)
		}
	}
}

// fieldPaths lists the paths of v's fields: a.b for objects, a[] for the
// elements of arrays.
func fieldPaths(v any, path string, out *[]string) {
	if path != "" {
		*out = append(*out, path)
	}
	if path == "realtime.processor" {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := k
			if path != "" {
				p = path + "." + k
			}
			fieldPaths(x, p, out)
		}
	case []any:
		if len(v) > 0 {
			fieldPaths(v[0], path+"[]", out)
		}
	}
}
