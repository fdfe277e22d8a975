package publish

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/source"
)

// CameraSpec is one camera of a publisher: from --source or a camera file
// (the YAML form is the file's).
type CameraSpec struct {
	ID   string  `yaml:"id"`
	URI  string  `yaml:"uri"`
	FPS  float64 `yaml:"fps"`  // 0: the source's own rate, else --fps
	Size string  `yaml:"size"` // "": the source's own size, else --size
}

// CameraFileExample is shown in the usage text and in errors.
const CameraFileExample = `cameras:
  - id: lobby
    uri: rtsp://user:pass@192.168.1.20:554/stream1
    fps: 10
    size: 640x360
  - id: desk
    uri: /dev/video0
  - id: replay
    uri: /videos/entrance.mp4#loop=true`

// LoadCameraFile reads a YAML camera file. Unknown keys are errors, so
// that a typo ("fsp: 5") does not silently fall back to a default.
func LoadCameraFile(path string) ([]CameraSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("camera file: %w", err)
	}
	var f struct {
		Cameras []CameraSpec `yaml:"cameras"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("camera file %s: %w; the format is:\n%s", path, err, CameraFileExample)
	}
	if len(f.Cameras) == 0 {
		return nil, fmt.Errorf("camera file %s lists no cameras; the format is:\n%s", path, CameraFileExample)
	}
	var errs []error
	for i, c := range f.Cameras {
		where := fmt.Sprintf("camera file %s: cameras[%d]", path, i)
		if c.ID != "" {
			where += fmt.Sprintf(" (%s)", c.ID)
		}
		if c.URI == "" {
			errs = append(errs, fmt.Errorf("%s: no uri", where))
		}
		if c.FPS < 0 || c.FPS > 1000 {
			errs = append(errs, fmt.Errorf("%s: fps %v: want more than 0 and at most 1000", where, c.FPS))
		}
		if c.Size != "" {
			if _, _, ok := source.ParseSize(c.Size); !ok {
				errs = append(errs, fmt.Errorf("%s: size %q: want WIDTHxHEIGHT, e.g. 640x480", where, c.Size))
			}
		}
	}
	return f.Cameras, errors.Join(errs...)
}

// Cameras is the camera list of a publisher: the sources (--source
// values, [ID=]URI) with their ids from CameraIDs, then the cameras of
// cameraFile ("" for none), those without an id named cam-N after their
// position in the whole list, skipping the ids already taken. Every error
// is reported at once: ids given twice or invalid (frame.CheckCamera), the
// camera file's, and an empty list.
func Cameras(sources, ids []string, cameraFile string) ([]CameraSpec, error) {
	var errs []error
	named, uris, err := CameraIDs(sources, ids)
	if err != nil {
		errs = append(errs, err)
	}
	var specs []CameraSpec
	for i := range named {
		specs = append(specs, CameraSpec{ID: named[i], URI: uris[i]})
	}
	if cameraFile != "" {
		fileSpecs, err := LoadCameraFile(cameraFile)
		if err != nil {
			errs = append(errs, err)
		}
		taken := map[string]bool{}
		for _, s := range specs {
			taken[s.ID] = true
		}
		n := 1
		for _, s := range fileSpecs {
			for s.ID == "" {
				if id := fmt.Sprintf("cam-%d", len(specs)+n); !taken[id] {
					s.ID = id
				}
				n++
			}
			if taken[s.ID] {
				errs = append(errs, fmt.Errorf("camera id %q given twice", s.ID))
			}
			taken[s.ID] = true
			specs = append(specs, s)
		}
	}
	for _, s := range specs {
		if err := frame.CheckCamera(s.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if len(specs) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no --source given, e.g. --source synthetic: (or --camera-file FILE)"))
	}
	return specs, errors.Join(errs...)
}

// CameraIDs pairs each source (an --source argument) with its camera id: ID=URI, else the next
// --camera, else cam-N by position (skipping ids already taken).
func CameraIDs(sources, cameras []string) (ids, uris []string, err error) {
	taken := map[string]bool{}
	ids = make([]string, len(sources))
	uris = make([]string, len(sources))
	for i, s := range sources {
		if id, uri, ok := splitSource(s); ok {
			ids[i], uris[i] = id, uri
			taken[id] = true
		} else {
			uris[i] = s
		}
	}
	next := 0
	for i := range sources {
		if ids[i] != "" || next >= len(cameras) {
			continue
		}
		ids[i] = cameras[next]
		taken[ids[i]] = true
		next++
	}
	if next < len(cameras) {
		return nil, nil, fmt.Errorf("%d --camera ids for %d sources without ID=: give one --camera per such --source", len(cameras), next)
	}
	n := 1
	for i := range sources {
		if ids[i] != "" {
			continue
		}
		for n = max(n, i+1); taken["cam-"+strconv.Itoa(n)]; n++ {
		}
		ids[i] = "cam-" + strconv.Itoa(n)
		taken[ids[i]] = true
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return nil, nil, fmt.Errorf("camera id %q given twice", id)
		}
		seen[id] = true
	}
	return ids, uris, nil
}

// splitSource splits "ID=URI". The part before '=' is an id only if it
// cannot be part of a URI or path (no ':', '/', '\', '?', '&') and the
// whole string is not an existing file.
func splitSource(s string) (id, uri string, ok bool) {
	id, uri, found := strings.Cut(s, "=")
	if !found || id == "" || uri == "" || strings.ContainsAny(id, `:/\?&`) {
		return "", "", false
	}
	if _, err := os.Stat(s); err == nil {
		return "", "", false
	}
	return id, uri, true
}
