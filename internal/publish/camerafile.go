package publish

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"

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
