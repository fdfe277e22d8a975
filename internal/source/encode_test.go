package source

import (
	"context"
	"errors"
	"image"
	"image/color"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/testkit"
)

func TestEncodeVideo(t *testing.T) {
	bin := testkit.FFmpeg(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		w, h         int
		wantW, wantH int
	}{
		{"clip.mp4", 160, 120, 160, 120},
		// 4:2:0 needs even sizes: one pixel of padding.
		{"odd.mkv", 75, 51, 76, 52},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), tc.name)
			enc, err := NewEncoder(ctx, bin, dst, tc.w, tc.h, 10, nil)
			if err != nil {
				t.Fatal(err)
			}
			rgb := &imagex.RGB{W: tc.w, H: tc.h, Pix: make([]byte, tc.w*tc.h*3)}
			for i := range 20 {
				if i%2 == 0 {
					for p := range rgb.Pix {
						rgb.Pix[p] = byte(p + 7*i)
					}
					err = enc.WriteRGB(rgb)
				} else {
					img := image.NewRGBA(image.Rect(0, 0, tc.w, tc.h))
					img.Set(i, i, color.RGBA{255, 0, 0, 255})
					err = enc.Write(img)
				}
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			// Another image type goes through the generic conversion.
			if err := enc.Write(image.NewGray(image.Rect(0, 0, tc.w, tc.h))); err != nil {
				t.Fatal(err)
			}
			if err := enc.WriteRGB(&imagex.RGB{W: 2, H: 2, Pix: make([]byte, 12)}); err == nil || !strings.Contains(err.Error(), "2×2") {
				t.Errorf("wrong size: %v", err)
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			if err := enc.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if enc.Frames() != 21 {
				t.Errorf("Frames() = %d", enc.Frames())
			}
			info, err := Probe(ctx, "", dst)
			if err != nil {
				t.Fatal(err)
			}
			if info.Frames != 21 || info.FPS != 10 || info.Width != tc.wantW || info.Height != tc.wantH {
				t.Errorf("%s: %+v", dst, info)
			}
		})
	}
}

func TestEncodeFailures(t *testing.T) {
	bin := testkit.FFmpeg(t)
	ctx := context.Background()
	dir := t.TempDir()
	_, err := NewEncoder(ctx, filepath.Join(dir, "no-ffmpeg"), filepath.Join(dir, "x.mp4"), 8, 8, 5, nil)
	if !errors.Is(err, ErrNoFFmpeg) || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
		t.Errorf("missing ffmpeg: %v", err)
	}
	if _, err := NewEncoder(ctx, bin, filepath.Join(dir, "x.mp4"), 0, 8, 5, nil); err == nil {
		t.Error("zero width accepted")
	}
	if _, err := NewEncoder(ctx, bin, filepath.Join(dir, "x.mp4"), 8, 8, 0, nil); err == nil {
		t.Error("zero fps accepted")
	}
	// ffmpeg cannot create the file: its own message reaches the caller,
	// from Write or at the latest from Close.
	enc, err := NewEncoder(ctx, bin, filepath.Join(dir, "missing", "x.mp4"), 64, 48, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for range 50 {
		if err = enc.Write(img); err != nil {
			break
		}
	}
	if err == nil {
		err = enc.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "No such file or directory") {
		t.Errorf("unwritable output: %v", err)
	}
}
