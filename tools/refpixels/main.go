// Command refpixels writes, for every test image, the RGB pixels framecast's
// own decoder produces, as lossless PNG files named <image>.png. The
// reference generator (tools/reference) reads those instead of decoding the
// JPEGs itself: JPEG decoders differ in the last bits and the emotion model
// is sensitive to them, so both sides must see identical pixels.
package main

import (
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/samples"
)

func main() {
	out := flag.String("out", "", "output directory")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: refpixels --out DIR")
		os.Exit(2)
	}
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "refpixels:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	p := models.At("")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, path := range samples.All(p.Samples(), p.TestImages()) {
		img, err := imagex.DecodeFile(path, imagex.DefaultLimits())
		if err != nil {
			return fmt.Errorf("%s: %w (run `make setup`)", path, err)
		}
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		f, err := os.Create(filepath.Join(out, name+".png"))
		if err != nil {
			return err
		}
		if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(f, img.ToImage()); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s: %d×%d\n", name, img.W, img.H)
	}
	return nil
}
