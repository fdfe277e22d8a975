package offline

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/framecast/framecast/internal/imagex"
)

// ImageExts are the file names a directory argument expands to.
var ImageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".gif": true}

// ExpandImages replaces directories by the images in them, sorted. Missing
// paths are kept so they are reported per file like any other failure.
func ExpandImages(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil || !st.IsDir() {
			out = append(out, a)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var in []string
		for _, e := range ents {
			if !e.IsDir() && ImageExts[strings.ToLower(filepath.Ext(e.Name()))] {
				in = append(in, filepath.Join(a, e.Name()))
			}
		}
		sort.Strings(in)
		if len(in) == 0 {
			return nil, fmt.Errorf("%s: no images (.jpg, .jpeg, .png, .gif) in this directory", a)
		}
		out = append(out, in...)
	}
	return out, nil
}

// videoExts are the file name extensions analyze reads as videos. Other
// files that are not images are recognised by their first bytes.
var videoExts = map[string]bool{
	".mp4": true, ".m4v": true, ".mkv": true, ".webm": true, ".mov": true, ".avi": true,
	".mpg": true, ".mpeg": true, ".ts": true, ".m2ts": true, ".mts": true, ".flv": true,
	".wmv": true, ".ogv": true, ".3gp": true, ".y4m": true,
}

// isImageName reports names that are images, never sniffed for video:
// analyze's ImageExts plus what the decoder also reads.
func isImageName(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ImageExts[ext] || ext == ".bmp" || ext == ".webp"
}

// SplitInputs sorts the arguments into images and videos. A directory
// stands for the images and videos in it, each kind sorted by name.
// Missing paths count as images, so they are reported per file like any
// other failure, as before videos existed.
func SplitInputs(args []string) (images, videos []string, err error) {
	for _, a := range args {
		st, err := os.Stat(a)
		switch {
		case a == "-" || err != nil:
			images = append(images, a)
		case st.IsDir():
			ents, err := os.ReadDir(a)
			if err != nil {
				return nil, nil, err
			}
			var imgs, vids []string
			for _, e := range ents {
				p := filepath.Join(a, e.Name())
				switch ext := strings.ToLower(filepath.Ext(e.Name())); {
				case e.IsDir():
				case ImageExts[ext]:
					imgs = append(imgs, p)
				case videoExts[ext]:
					vids = append(vids, p)
				}
			}
			if len(imgs)+len(vids) == 0 {
				return nil, nil, fmt.Errorf("%s: no images (.jpg, .jpeg, .png, .gif) or videos (.mp4, .mkv, .mov, .webm, .avi, …) in this directory", a)
			}
			sort.Strings(imgs)
			sort.Strings(vids)
			images, videos = append(images, imgs...), append(videos, vids...)
		case videoExts[strings.ToLower(filepath.Ext(a))]:
			videos = append(videos, a)
		case !isImageName(a) && looksLikeVideo(a):
			videos = append(videos, a)
		default:
			images = append(images, a)
		}
	}
	return images, videos, nil
}

// looksLikeVideo recognises the common containers by their first bytes,
// for videos whose names do not say so.
func looksLikeVideo(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 189)
	n, _ := io.ReadFull(f, b)
	b = b[:n]
	switch {
	case len(b) >= 12 && string(b[4:8]) == "ftyp": // MP4, MOV, 3GP
		return true
	case bytes.HasPrefix(b, []byte{0x1a, 0x45, 0xdf, 0xa3}): // Matroska, WebM
		return true
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "AVI ":
		return true
	case bytes.HasPrefix(b, []byte("OggS")), bytes.HasPrefix(b, []byte("FLV")),
		bytes.HasPrefix(b, []byte{0, 0, 1, 0xba}), // MPEG program stream
		bytes.HasPrefix(b, []byte("YUV4MPEG2")):
		return true
	case len(b) >= 189 && b[0] == 0x47 && b[188] == 0x47: // MPEG transport stream
		return true
	}
	return false
}

// ReadImage reads a file, or stdin for "-", refusing anything over the byte limit
// before reading it whole.
func ReadImage(path string, stdin io.Reader, maxBytes int64) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			return nil, fmt.Errorf("is a directory")
		}
		if st.Size() > maxBytes {
			return nil, fmt.Errorf("%w: file is %d bytes, the limit is %d (raise it with --max-bytes)", imagex.ErrTooLarge, st.Size(), maxBytes)
		}
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("%w: input is over %d bytes (raise it with --max-bytes)", imagex.ErrTooLarge, maxBytes)
	}
	return b, nil
}
