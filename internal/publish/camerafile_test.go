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

func TestCameraIDs(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(dir, "a=b.jpg")
	if err := os.WriteFile(odd, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sources, cameras []string
		ids, uris        []string
	}{
		{[]string{"synthetic:", "x.jpg"}, nil, []string{"cam-1", "cam-2"}, []string{"synthetic:", "x.jpg"}},
		{[]string{"door=synthetic:?seed=2&size=320x240", "synthetic:?size=1x1"}, []string{"hall"},
			[]string{"door", "hall"}, []string{"synthetic:?seed=2&size=320x240", "synthetic:?size=1x1"}},
		{[]string{"synthetic:", "cam-1=d"}, nil, []string{"cam-2", "cam-1"}, []string{"synthetic:", "d"}},
		{[]string{"/data/x=y.jpg", odd}, []string{"p", "q"}, []string{"p", "q"}, []string{"/data/x=y.jpg", odd}},
	} {
		ids, uris, err := CameraIDs(tc.sources, tc.cameras)
		if err != nil || !reflect.DeepEqual(ids, tc.ids) || !reflect.DeepEqual(uris, tc.uris) {
			t.Errorf("%q %q: ids %q uris %q %v", tc.sources, tc.cameras, ids, uris, err)
		}
	}
}

// TestCameras: --source cameras first, then the camera file's, whose
// cameras without an id are named after their place in the whole list;
// every error at once.
func TestCameras(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cams.yaml")
	if err := os.WriteFile(file, []byte("cameras:\n  - uri: \"synthetic:\"\n    fps: 4\n    size: 320x240\n  - id: door\n    uri: rtsp://127.0.0.1:1/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	specs, err := Cameras([]string{"lobby=synthetic:", "lavfi:testsrc2"}, nil, file)
	if err != nil {
		t.Fatal(err)
	}
	want := []CameraSpec{{ID: "lobby", URI: "synthetic:"}, {ID: "cam-2", URI: "lavfi:testsrc2"},
		{ID: "cam-3", URI: "synthetic:", FPS: 4, Size: "320x240"}, {ID: "door", URI: "rtsp://127.0.0.1:1/x"}}
	if !reflect.DeepEqual(specs, want) {
		t.Errorf("cameras %+v, want %+v", specs, want)
	}
	for _, tc := range []struct {
		sources, ids []string
		file, want   string
	}{
		{nil, nil, "", "no --source"},
		{[]string{"a=synthetic:", "door=synthetic:"}, nil, file, "twice"},
		{nil, nil, filepath.Join(dir, "nope.yaml"), "camera file"},
		{[]string{strings.Repeat("x", 129) + "=synthetic:"}, nil, "", "want 1 to 128 bytes of UTF-8"},
		{[]string{"synthetic:"}, []string{"a", "b"}, "", "2 --camera ids for 1 sources"},
	} {
		if _, err := Cameras(tc.sources, tc.ids, tc.file); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q %q: %v, want an error about %s", tc.sources, tc.ids, tc.file, err, tc.want)
		}
	}
}
