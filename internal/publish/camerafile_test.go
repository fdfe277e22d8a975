package publish

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadCameraFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", CameraFileExample)
	got, err := LoadCameraFile(good)
	if err != nil {
		t.Fatal(err)
	}
	want := []CameraSpec{
		{ID: "lobby", URI: "rtsp://user:pass@192.168.1.20:554/stream1", FPS: 10, Size: "640x360"},
		{ID: "desk", URI: "/dev/video0"},
		{ID: "replay", URI: "/videos/entrance.mp4#loop=true"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, tc := range []struct{ body, want string }{
		{"cameras:\n  - id: a\n    uri: \"synthetic:\"\n    fsp: 5\n", "field fsp not found"},
		{"cameras:\n  - id: a\n", "no uri"},
		{"cameras:\n  - uri: \"synthetic:\"\n    fps: -1\n", "fps"},
		{"cameras:\n  - uri: \"synthetic:\"\n    size: huge\n", "size"},
		{"cameras: []\n", "no cameras"},
		{"", "no cameras"},
		{"cameras: {", "the format is"},
	} {
		_, err := LoadCameraFile(write("bad.yaml", tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error about %q", tc.body, err, tc.want)
		}
	}
	if _, err := LoadCameraFile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file: no error")
	}
}
