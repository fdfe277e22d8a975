package view

import (
	"context"
	"fmt"
	"image"
	"net/http"
	"strconv"
	"time"

	"github.com/framecast/framecast/internal/annotate"
	"github.com/framecast/framecast/internal/imagex"
)

// mjpegBoundary separates the parts of a stream.
const mjpegBoundary = "framecastframe"

// annotator burns a result's boxes into a frame: libjpeg-turbo decode,
// draw, libjpeg-turbo encode, every buffer kept for the stream's next
// frame. One per stream (a Decoder or Encoder is not shared).
type annotator struct {
	dec     *imagex.Decoder
	enc     *imagex.Encoder
	rgb     imagex.RGB
	canvas  *image.RGBA
	out     []byte
	quality int
}

func newAnnotator(quality int) *annotator {
	return &annotator{dec: imagex.NewDecoder(imagex.DefaultLimits()), enc: imagex.NewEncoder(), quality: quality}
}

func (a *annotator) close() {
	a.dec.Close()
	a.enc.Close()
}

func (a *annotator) render(f *frameEntry, r *resultEntry) ([]byte, error) {
	if r == nil || len(r.res.Faces) == 0 {
		return f.jpeg, nil
	}
	if err := a.dec.Decode(f.jpeg, &a.rgb); err != nil {
		return nil, err
	}
	a.canvas = a.rgb.ToImageInto(a.canvas)
	if err := annotate.Draw(a.canvas, r.res.Faces); err != nil {
		return nil, err
	}
	// The bytes are valid until the next render: the stream writes them
	// before it renders again.
	var err error
	if a.out, err = a.enc.EncodeImage(a.out[:0], a.canvas, a.quality); err != nil {
		return nil, err
	}
	return a.out, nil
}

// cameraParam reads ?camera= and answers 400/404 itself when it is missing
// or unknown.
func (s *Server) cameraParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.URL.Query().Get("camera")
	if id == "" {
		http.Error(w, "400 bad request: give ?camera=ID (GET /api/cameras lists them)", http.StatusBadRequest)
		return "", false
	}
	if _, _, ok := s.store.pick(id, false); !ok {
		http.Error(w, fmt.Sprintf("404 camera %q not seen (yet): GET /api/cameras lists the cameras", id), http.StatusNotFound)
		return "", false
	}
	return id, true
}

func annotateParam(r *http.Request) bool {
	v, err := strconv.ParseBool(r.URL.Query().Get("annotate"))
	return err == nil && v
}

// handleSnapshot serves a camera's newest frame as a JPEG, with
// ?annotate=1 its boxes burnt in.
func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	id, ok := s.cameraParam(w, r)
	if !ok {
		return
	}
	ann := annotateParam(r)
	f, res, _ := s.store.pick(id, ann)
	if f == nil {
		http.Error(w, "404 no frame of this camera yet", http.StatusNotFound)
		return
	}
	img := f.jpeg
	if ann {
		a := newAnnotator(s.cfg.JPEGQuality)
		defer a.close()
		var err error
		if img, err = a.render(f, res); err != nil {
			http.Error(w, "500 "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(img)))
	w.Header().Set("X-Framecast-Seq", strconv.FormatInt(f.seq, 10))
	w.Write(img)
}

// handleStream serves multipart/x-mixed-replace MJPEG (VLC, ffplay, an
// <img> tag): each part a JPEG with its Content-Length, flushed at once.
// A slow reader gets the newest frame when it is ready for one; the frames
// it missed are counted, never queued.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	id, ok := s.cameraParam(w, r)
	if !ok {
		return
	}
	if r.Method == http.MethodHead {
		// HEAD (GET routes take it too): the headers, no stream.
		h := w.Header()
		h.Set("Content-Type", "multipart/x-mixed-replace; boundary="+mjpegBoundary)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		return
	}
	ann := annotateParam(r)
	wake := make(chan struct{}, 1)
	if !s.store.watch(id, wake) {
		http.Error(w, fmt.Sprintf("404 camera %q not seen (yet): GET /api/cameras lists the cameras", id), http.StatusNotFound)
		return
	}
	defer s.store.unwatch(id, wake)
	var a *annotator
	if ann {
		a = newAnnotator(s.cfg.JPEGQuality)
		defer a.close()
	}
	s.streams.Add(1)
	defer s.streams.Add(-1)

	h := w.Header()
	h.Set("Content-Type", "multipart/x-mixed-replace; boundary="+mjpegBoundary)
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "close")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// A write to a reader that stopped reading blocks until the write
	// deadline; when the request ends (the client went away, or the
	// server is stopping) the deadline moves to now, so the stop does
	// not wait for it.
	stop := context.AfterFunc(r.Context(), func() { _ = rc.SetWriteDeadline(time.Now()) })
	defer stop()
	if err := rc.Flush(); err != nil {
		return
	}
	var lastN int64 = -1
	lastRes := int64(-1)
	select { // the newest frame at once (a frame may have woken it already)
	case wake <- struct{}{}:
	default:
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-wake:
		}
		f, res, known := s.store.pick(id, ann)
		if !known {
			return // the camera was forgotten (idle, or evicted at the cap)
		}
		if f == nil {
			continue
		}
		resSeq := int64(-1)
		if res != nil {
			resSeq = res.seq
		}
		if f.n == lastN && resSeq == lastRes {
			continue
		}
		if lastN >= 0 && f.n > lastN+1 {
			s.streamDropped.Add(f.n - lastN - 1)
		}
		img := f.jpeg
		if a != nil {
			var err error
			if img, err = a.render(f, res); err != nil {
				s.log.Debug("annotating a frame failed", "camera", id, "seq", f.seq, "err", err)
				img = f.jpeg
			}
		}
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if r.Context().Err() != nil {
			// Ended while the deadline was being set: AfterFunc's may
			// have come first and been overwritten.
			return
		}
		if _, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\nX-Framecast-Seq: %d\r\n\r\n",
			mjpegBoundary, len(img), f.seq); err != nil {
			return
		}
		if _, err := w.Write(img); err != nil {
			return
		}
		if _, err := w.Write([]byte("\r\n")); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		lastN, lastRes = f.n, resSeq
	}
}
