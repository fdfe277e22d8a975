package tfjsonnx

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// attrsOf parses a node's attr object the way model.json is parsed.
func attrsOf(t *testing.T, js string) nodeAttrs {
	t.Helper()
	n := &tfNode{Name: "n", Op: "Op"}
	if err := json.Unmarshal([]byte(js), &n.Attr); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return nodeAttrs{n}
}

func TestAttrParsing(t *testing.T) {
	a := attrsOf(t, `{
		"padding": {"s": "U0FNRQ=="},
		"valid": {"s": "VkFMSUQ="},
		"data_format": {"s": "TkhXQw=="},
		"num_args": {"i": "1"},
		"num_num": {"i": 3},
		"zero": {},
		"strides": {"list": {"i": ["1", "2", "2", "1"]}},
		"empty_list": {"list": {}},
		"fused_ops": {"list": {"s": ["Qmlhc0FkZA==", "UmVsdQ=="]}},
		"keep_dims": {"b": false},
		"use_cudnn_on_gpu": {"b": true},
		"T": {"type": "DT_FLOAT"},
		"Tnum": {"type": 3},
		"epsilon": {"f": 0}
	}`)
	check := func(name string, got, want any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	s, err := a.str("padding", "")
	check("padding", s, "SAME", err)
	s, err = a.str("valid", "")
	check("valid", s, "VALID", err)
	s, err = a.str("data_format", "")
	check("data_format", s, "NHWC", err)
	s, err = a.str("absent", "dflt")
	check("absent str", s, "dflt", err)
	i, err := a.integer("num_args", 0)
	check("num_args", i, int64(1), err)
	i, err = a.integer("num_num", 0)
	check("numeric int", i, int64(3), err)
	i, err = a.integer("zero", 7)
	check("proto3 zero int", i, int64(0), err)
	i, err = a.integer("absent", 7)
	check("absent int", i, int64(7), err)
	l, err := a.ints("strides", nil)
	check("strides", l, []int64{1, 2, 2, 1}, err)
	l, err = a.ints("empty_list", []int64{9})
	check("empty list", l, []int64{}, err)
	ss, err := a.strs("fused_ops", nil)
	check("fused_ops", ss, []string{"BiasAdd", "Relu"}, err)
	b, err := a.boolean("keep_dims", true)
	check("keep_dims", b, false, err)
	b, err = a.boolean("use_cudnn_on_gpu", false)
	check("use_cudnn", b, true, err)
	b, err = a.boolean("absent", true)
	check("absent bool", b, true, err)
	dt, err := a.dtype("T")
	check("T", dt, "DT_FLOAT", err)
	dt, err = a.dtype("Tnum")
	check("numeric type", dt, "DT_INT32", err)
	h, w, err := a.spatial4("strides")
	check("spatial4", []int64{h, w}, []int64{2, 2}, err)
	h, w, err = a.spatial4("absent")
	check("spatial4 default", []int64{h, w}, []int64{1, 1}, err)
	p, err := a.padding()
	check("padding()", p, padding{mode: "SAME"}, err)
	if err := a.checkNHWC(); err != nil {
		t.Error(err)
	}
	if err := a.checkFloat("T"); err != nil {
		t.Error(err)
	}
}

func TestAttrErrors(t *testing.T) {
	cases := []struct {
		name, attrs string
		call        func(a nodeAttrs) error
		want        string
	}{
		{"wrong kind", `{"padding": {"i": "1"}}`, func(a nodeAttrs) error { _, err := a.str("padding", ""); return err }, "not a string"},
		{"bad base64", `{"padding": {"s": "@@@"}}`, func(a nodeAttrs) error { _, err := a.str("padding", ""); return err }, "invalid base64"},
		{"int not list", `{"strides": {"i": "1"}}`, func(a nodeAttrs) error { _, err := a.ints("strides", nil); return err }, "not a list"},
		{"strides len", `{"strides": {"list": {"i": ["1", "2"]}}}`, func(a nodeAttrs) error { _, _, err := a.spatial4("strides"); return err }, "4 entries"},
		{"strides batch", `{"strides": {"list": {"i": ["2", "1", "1", "1"]}}}`, func(a nodeAttrs) error { _, _, err := a.spatial4("strides"); return err }, "batch and channel"},
		{"NCHW", `{"data_format": {"s": "TkNIVw=="}}`, func(a nodeAttrs) error { return a.checkNHWC() }, `data_format "NCHW"`},
		{"half", `{"T": {"type": "DT_HALF"}}`, func(a nodeAttrs) error { return a.checkFloat("T") }, "unsupported dtype DT_HALF"},
		{"padding missing", `{}`, func(a nodeAttrs) error { _, err := a.padding(); return err }, "unsupported padding"},
		{"explicit short", `{"padding": {"s": "RVhQTElDSVQ="}, "explicit_paddings": {"list": {"i": ["0", "0"]}}}`, func(a nodeAttrs) error { _, err := a.padding(); return err }, "8 entries"},
		{"explicit channel", `{"padding": {"s": "RVhQTElDSVQ="}, "explicit_paddings": {"list": {"i": ["0","0","1","1","1","1","0","1"]}}}`, func(a nodeAttrs) error { _, err := a.padding(); return err }, "batch or channel"},
		{"unknown attr", `{"T": {"type": "DT_FLOAT"}, "frobnicate": {"b": true}}`, func(a nodeAttrs) error { return a.checkAttrs("T") }, `unsupported attr "frobnicate"`},
	}
	for _, c := range cases {
		err := c.call(attrsOf(t, c.attrs))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want containing %q", c.name, err, c.want)
			continue
		}
		if !strings.Contains(err.Error(), `node "n" (op Op)`) {
			t.Errorf("%s: error %q does not name the node", c.name, err)
		}
	}
	// Internal "_" attributes are ignored rather than rejected.
	if err := attrsOf(t, `{"_cloned": {"b": true}}`).checkAttrs(); err != nil {
		t.Error(err)
	}
	ex, err := attrsOf(t, `{"padding": {"s": "RVhQTElDSVQ="}, "explicit_paddings": {"list": {"i": ["0","0","1","2","3","4","0","0"]}}}`).padding()
	if err != nil || ex != (padding{mode: "EXPLICIT", explicit: [4]int64{1, 2, 3, 4}}) {
		t.Errorf("explicit padding = %+v, %v", ex, err)
	}
}

func TestParseRef(t *testing.T) {
	cases := []struct {
		in      string
		name    string
		idx     int
		control bool
	}{
		{"conv", "conv", 0, false},
		{"conv:0", "conv", 0, false},
		{"split:2", "split", 2, false},
		{"^init", "init", 0, true},
		{"a/b:c", "a/b:c", 0, false}, // not an index: keep the whole name
	}
	for _, c := range cases {
		name, idx, control := parseRef(c.in)
		if name != c.name || idx != c.idx || control != c.control {
			t.Errorf("parseRef(%q) = %q,%d,%v", c.in, name, idx, control)
		}
	}
}

func TestSignatureOrder(t *testing.T) {
	var sig signatureDef
	err := json.Unmarshal([]byte(`{"outputs": {"b:0": {"name": "b:0"}, "a:0": {"name": "a:0"}, "c": {}}}`), &sig)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range sig.Outputs {
		keys = append(keys, e.key)
	}
	if !reflect.DeepEqual(keys, []string{"b:0", "a:0", "c"}) {
		t.Errorf("signature keys %v: document order must be kept", keys)
	}
}
