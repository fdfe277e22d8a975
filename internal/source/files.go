package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/framecast/framecast/internal/imagex"
)

// imageExts are the file name extensions a directory source plays.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".bmp": true, ".webp": true}

// maxReencodeCache bounds the memory kept for re-encoded (non-JPEG) images,
// so a looping directory of PNGs is converted once, not on every pass.
const maxReencodeCache = 64 << 20

// files plays an image file or a directory of images. JPEG files are sent
// as they are; other formats are decoded and encoded as JPEG.
type files struct {
	path    string // the file, directory or glob pattern
	dir     bool
	glob    bool
	once    bool
	quality int

	list []string // current pass, sorted
	next int

	dec        *imagex.Decoder
	enc        *imagex.Encoder
	rgb        imagex.RGB
	cache      map[string]Frame // re-encoded images by path (CapturedAt unset)
	cacheBytes int
}

func openPath(path string, opts Config) (Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("source %q: no such file or directory (sources: %s)", path, Schemes)
		}
		return nil, fmt.Errorf("source %q: %w", path, err)
	}
	f := &files{path: path, dir: st.IsDir(), once: opts.Once, quality: opts.JPEGQuality, cache: map[string]Frame{}}
	if err := f.scan(); err != nil {
		return nil, err
	}
	if !f.dir {
		// Fail at start for a single file that is not an image, instead of
		// on every frame.
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", path, err)
		}
		if _, _, _, err := imagex.Info(data); err != nil {
			return nil, fmt.Errorf("source %q: %w", path, err)
		}
	}
	return f, nil
}

// openGlob plays the images matching a pattern (filepath.Match syntax),
// in name order, looped like a directory.
func openGlob(pattern string, opts Config) (Source, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("source %q: bad glob pattern: %w", pattern, err)
	}
	f := &files{path: pattern, glob: true, once: opts.Once, quality: opts.JPEGQuality, cache: map[string]Frame{}}
	if err := f.scan(); err != nil {
		return nil, err
	}
	return f, nil
}

// scan lists the images to play in the next pass. A directory or glob is
// listed again at every pass, so images added while looping are picked up.
func (f *files) scan() error {
	if f.glob {
		matches, _ := filepath.Glob(f.path) // the pattern was checked by openGlob
		f.list = f.list[:0]
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && imageExts[strings.ToLower(filepath.Ext(m))] {
				f.list = append(f.list, m)
			}
		}
		sort.Strings(f.list)
		if len(f.list) == 0 {
			return fmt.Errorf("source %q: no images match the pattern (looked for .jpg, .jpeg, .png, .gif, .bmp, .webp)", f.path)
		}
		return nil
	}
	if !f.dir {
		f.list = []string{f.path}
		return nil
	}
	entries, err := os.ReadDir(f.path)
	if err != nil {
		return fmt.Errorf("source %q: %w", f.path, err)
	}
	f.list = f.list[:0]
	for _, e := range entries {
		if e.Type().IsRegular() && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
			f.list = append(f.list, filepath.Join(f.path, e.Name()))
		}
	}
	sort.Strings(f.list)
	if len(f.list) == 0 {
		return fmt.Errorf("source %q: no images in the directory (looked for .jpg, .jpeg, .png, .gif, .bmp, .webp)", f.path)
	}
	return nil
}

// Next returns the next image. An unreadable image is an error for that
// frame only: the following call moves on to the next file.
func (f *files) Next(ctx context.Context) (Frame, error) {
	if err := ctx.Err(); err != nil {
		return Frame{}, err
	}
	if f.next >= len(f.list) {
		if f.once {
			return Frame{}, fmt.Errorf("source %q: %w", f.path, ErrEndOfInput)
		}
		if err := f.scan(); err != nil {
			return Frame{}, err
		}
		f.next = 0
	}
	path := f.list[f.next]
	f.next++
	fr, err := f.load(path)
	if err != nil {
		return Frame{}, fmt.Errorf("source %q: %w", path, err)
	}
	fr.CapturedAt = time.Now()
	return fr, nil
}

func (f *files) load(path string) (Frame, error) {
	if fr, ok := f.cache[path]; ok {
		// The cached bytes are shared: hand out a copy, since the caller
		// owns what Next returns.
		fr.JPEG = bytes.Clone(fr.JPEG)
		return fr, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Frame{}, err
	}
	format, w, h, err := imagex.Info(data)
	if err != nil {
		return Frame{}, err
	}
	if format == "jpeg" {
		return Frame{JPEG: data, Width: w, Height: h}, nil
	}
	if f.dec == nil {
		f.dec = imagex.NewDecoder(imagex.DefaultLimits())
		f.enc = imagex.NewEncoder()
	}
	if err := f.dec.Decode(data, &f.rgb); err != nil {
		return Frame{}, err
	}
	jpg, err := f.enc.EncodeRGB(nil, &f.rgb, f.quality)
	if err != nil {
		return Frame{}, err
	}
	fr := Frame{JPEG: jpg, Width: f.rgb.W, Height: f.rgb.H}
	if f.cacheBytes+len(jpg) <= maxReencodeCache {
		f.cache[path] = Frame{JPEG: bytes.Clone(fr.JPEG), Width: fr.Width, Height: fr.Height}
		f.cacheBytes += len(jpg)
	}
	return fr, nil
}

// Close releases the decoder.
func (f *files) Close() error {
	if f.dec != nil {
		f.dec.Close()
		f.enc.Close()
		f.dec, f.enc = nil, nil
	}
	f.cache = nil
	return nil
}
