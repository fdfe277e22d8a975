package view

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"time"

	"github.com/framecast/framecast/internal/frame"
)

// The dashboard's WebSocket protocol (version 1). One connection carries
// every camera; the server sends, the browser only listens.
//
// Binary messages are frames, the newest of each camera (a client that
// cannot keep up gets the newest frame, never a queue):
//
//	offset  size  field
//	0       1     message type: 1 = frame
//	1       1     L, the camera id's length in bytes (ids are at most 128 bytes)
//	2       L     camera id, UTF-8
//	2+L     8     sequence number, unsigned, big endian
//	10+L    8     capture time, unix milliseconds, float64, big endian
//	18+L    2     width in pixels, big endian (0: unknown)
//	20+L    2     height in pixels, big endian (0: unknown)
//	22+L    ...   the JPEG, as the camera sent it
//
// A connection gets those live frames until it asks for the matched mode
// (below); then its binary messages are played frames instead, each with
// its own result (playback.go), slightly behind live:
//
//	offset  size  field
//	0       1     message type: 2 = played frame
//	1..21+L       as in a frame message
//	22+L    4     delay: milliseconds the dashboard held the frame for its result, big endian
//	26+L    4     N, the result's length in bytes (0: played without a result, it did not come)
//	30+L    N     the result, JSON, as in an "r" message
//	30+L+N  ...   the JPEG
//
// Text messages are JSON objects whose "t" names the kind:
//
//	{"t":"hello","v":1,"cameras":["cam-1",...],"emotions":["angry",...],
//	 "window_s":120,"history_s":300,"overlay_max_age_ms":1000,
//	 "modes":["live","matched"],"match_timeout_ms":5000}
//	    first message; emotions is the order of every emotion count array
//	{"t":"h","pts":[point,...]}
//	    the chart history, oldest first (one point a second, see point)
//	{"t":"r","r":[result,...]}
//	    results in arrival order; result is
//	    {"c":camera,"s":seq,"ts":captured unix ms,"lat":latency ms,"st":status,
//	     "w":width,"h":height,"f":[{"x","y","w","h","e":emotion,"p":its probability,"sc":score,"id":track id},...]}
//	    with boxes in frame pixels ("id" absent for untracked faces)
//	{"t":"s","now":unix ms,"cams":{id:camStats,...},"all":camStats,"pt":point,
//	 "ws_dropped":{id:n,...}}
//	    about once a second: per-camera and overall statistics, the newest
//	    chart point and the frames this connection dropped (see camStats);
//	    "stalls":[partHealth,...] lists the partitions the dashboard cannot
//	    read (see partHealth), a camera stalled behind one has "stall"
//
// The browser may send one kind of message:
//
//	{"t":"mode","mode":"matched"}   played frames from now on
//	{"t":"mode","mode":"live"}      the newest frames (the default)
//
// Version 1 clients that send nothing get what they always got.
const protocolVersion = 1

// Binary message types.
const (
	msgFrame  = 1
	msgPlayed = 2
)

// Connection modes (the "mode" message).
const (
	modeLive    = "live"
	modeMatched = "matched"
)

// playedHeaderLen is a played frame's header size without its result.
func playedHeaderLen(n int) int { return 30 + n }

// encodePlayed builds the header of a played frame's message (the JPEG,
// f.jpeg, is written after it).
func encodePlayed(f *frameEntry, r *resultEntry, delay time.Duration) []byte {
	n := len(f.camera)
	var res []byte
	if r != nil {
		res = r.msg
	}
	msg := make([]byte, playedHeaderLen(n)+len(res))
	copy(msg, f.msg[:frameHeaderLen(n)])
	msg[0] = msgPlayed
	binary.BigEndian.PutUint32(msg[22+n:], uint32(min(max(delay.Milliseconds(), 0), math.MaxUint32)))
	binary.BigEndian.PutUint32(msg[26+n:], uint32(len(res)))
	copy(msg[30+n:], res)
	return msg
}

// decodedPlayed is a played frame message taken apart (tests).
type decodedPlayed struct {
	decodedFrame
	DelayMS int
	Result  *wsResult
}

// decodePlayed parses a played frame message.
func decodePlayed(msg []byte) (decodedPlayed, bool) {
	if len(msg) < 2 || msg[0] != msgPlayed {
		return decodedPlayed{}, false
	}
	n := int(msg[1])
	if len(msg) < playedHeaderLen(n) {
		return decodedPlayed{}, false
	}
	rl := int(binary.BigEndian.Uint32(msg[26+n:]))
	if len(msg) < playedHeaderLen(n)+rl {
		return decodedPlayed{}, false
	}
	f, _ := decodeFrame(append([]byte{msgFrame}, msg[1:frameHeaderLen(n)]...))
	d := decodedPlayed{decodedFrame: f, DelayMS: int(binary.BigEndian.Uint32(msg[22+n:]))}
	d.JPEG = msg[playedHeaderLen(n)+rl:]
	if rl > 0 {
		d.Result = &wsResult{}
		if json.Unmarshal(msg[30+n:30+n+rl], d.Result) != nil {
			return decodedPlayed{}, false
		}
	}
	return d, true
}

// frameHeaderLen is the binary header's size for a camera id of n bytes.
func frameHeaderLen(n int) int { return 22 + n }

// encodeFrame builds the binary message of a frame: header then JPEG, in
// one allocation shared by every client (the JPEG is a sub-slice of it).
func encodeFrame(camera string, seq int64, captured time.Time, w, h int, jpeg []byte) []byte {
	n := len(camera)
	msg := make([]byte, frameHeaderLen(n)+len(jpeg))
	msg[0] = msgFrame
	msg[1] = byte(n)
	copy(msg[2:], camera)
	binary.BigEndian.PutUint64(msg[2+n:], uint64(seq))
	binary.BigEndian.PutUint64(msg[10+n:], math.Float64bits(unixMillis(captured)))
	binary.BigEndian.PutUint16(msg[18+n:], uint16(min(w, math.MaxUint16)))
	binary.BigEndian.PutUint16(msg[20+n:], uint16(min(h, math.MaxUint16)))
	copy(msg[22+n:], jpeg)
	return msg
}

// decodedFrame is a frame message taken apart (tests and tools).
type decodedFrame struct {
	Camera        string
	Seq           int64
	CapturedMS    float64
	Width, Height int
	JPEG          []byte
}

// decodeFrame parses a binary frame message.
func decodeFrame(msg []byte) (decodedFrame, bool) {
	if len(msg) < 2 || msg[0] != msgFrame {
		return decodedFrame{}, false
	}
	n := int(msg[1])
	if len(msg) < frameHeaderLen(n) {
		return decodedFrame{}, false
	}
	return decodedFrame{
		Camera:     string(msg[2 : 2+n]),
		Seq:        int64(binary.BigEndian.Uint64(msg[2+n:])),
		CapturedMS: math.Float64frombits(binary.BigEndian.Uint64(msg[10+n:])),
		Width:      int(binary.BigEndian.Uint16(msg[18+n:])),
		Height:     int(binary.BigEndian.Uint16(msg[20+n:])),
		JPEG:       msg[22+n:],
	}, true
}

func unixMillis(t time.Time) float64 { return float64(t.UnixNano()) / 1e6 }

// wsFace is a face in a result message.
type wsFace struct {
	X     float64 `json:"x"`
	Y     float64 `json:"y"`
	W     float64 `json:"w"`
	H     float64 `json:"h"`
	E     string  `json:"e"`
	P     float64 `json:"p"`
	Score float64 `json:"sc"`
	ID    int64   `json:"id,omitempty"`
}

// wsResult is a result as the browser gets it: what the overlay and the
// charts need, a few hundred bytes instead of the record's kilobyte.
type wsResult struct {
	Camera     string   `json:"c"`
	Seq        int64    `json:"s"`
	CapturedMS float64  `json:"ts"`
	LatencyMS  float64  `json:"lat"`
	Status     string   `json:"st"`
	Width      int      `json:"w"`
	Height     int      `json:"h"`
	Faces      []wsFace `json:"f"`
}

func encodeResult(r *frame.Result) []byte {
	m := wsResult{
		Camera: r.Camera, Seq: r.Seq, CapturedMS: round3(unixMillis(r.CapturedAt)), LatencyMS: round3(r.LatencyMS),
		Status: r.Status, Width: r.Frame.Width, Height: r.Frame.Height, Faces: make([]wsFace, 0, len(r.Faces)),
	}
	for _, f := range r.Faces {
		m.Faces = append(m.Faces, wsFace{
			X: round3(f.Box.X), Y: round3(f.Box.Y), W: round3(f.Box.W), H: round3(f.Box.H),
			E: f.Emotion, P: round3(f.Emotions[f.Emotion]), Score: round3(f.Score), ID: f.TrackID,
		})
	}
	b, _ := json.Marshal(m) // plain data: cannot fail
	return b
}

func round3(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

// resultsMessage joins encoded results into one "r" message.
func resultsMessage(rs [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"t":"r","r":[`)
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// helloMessage is the first message of a connection.
type helloMessage struct {
	T               string   `json:"t"`
	V               int      `json:"v"`
	Cameras         []string `json:"cameras"`
	Emotions        []string `json:"emotions"`
	WindowS         float64  `json:"window_s"`
	HistoryS        float64  `json:"history_s"`
	OverlayMaxAgeMS float64  `json:"overlay_max_age_ms"`
	Modes           []string `json:"modes"`
	MatchTimeoutMS  float64  `json:"match_timeout_ms"`
}

// point is one second of the charts, over every camera.
type point struct {
	T          int64   `json:"t"`    // unix seconds of the second it covers
	FPS        float64 `json:"fps"`  // frames received
	RPS        float64 `json:"rps"`  // results received
	P50        float64 `json:"p50"`  // results' latency_ms (capture → result), median
	P99        float64 `json:"p99"`  // and 99th percentile
	ViewP50    float64 `json:"vp50"` // capture → result received by the dashboard, median
	Faces      int     `json:"faces"`
	EmotionSum [7]int  `json:"emo"` // top emotions of the faces of that second
}

// camStats are a camera's (or every camera's) statistics.
type camStats struct {
	FPS      float64 `json:"fps"`      // frames/s received, over the last few seconds
	RPS      float64 `json:"rps"`      // results/s
	P50      float64 `json:"p50"`      // latency_ms of the last few seconds' results, median
	P99      float64 `json:"p99"`      // and 99th percentile
	Faces    int     `json:"faces"`    // faces of the newest frame played (its own result)
	Gaps     int64   `json:"gaps"`     // frames missing from the sequence (dropped upstream)
	Skipped  int64   `json:"skipped"`  // results with status skipped (stale)
	Frames   int64   `json:"frames"`   // frames received since the dashboard started
	Results  int64   `json:"results"`  // results received
	Seq      int64   `json:"seq"`      // newest frame's sequence number
	AgeMS    float64 `json:"age_ms"`   // since the newest frame arrived
	Emotions [7]int  `json:"emo"`      // top emotions of the faces in the window
	DelayMS  float64 `json:"delay_ms"` // how long the newest frame played waited for its result

	// Stall, when set, is the partition the camera's frames or results
	// are stuck behind: frames (results) stopped while it has records to
	// read and the dashboard reads none.
	Stall *partHealth `json:"stall,omitempty"`
}

// statsMessage is the once-a-second message, without ws_dropped: that
// part is per connection and spliced in by withDropped.
type statsMessage struct {
	T    string               `json:"t"`
	Now  float64              `json:"now"`
	Cams map[string]*camStats `json:"cams"`
	All  camStats             `json:"all"`
	Pt   *point               `json:"pt,omitempty"`
	// Stalls are the partitions stalled for the stall alarm interval.
	Stalls []partHealth `json:"stalls,omitempty"`
}

// withDropped appends a connection's dropped frames per camera to the
// shared stats message.
func withDropped(common []byte, dropped map[string]int64) []byte {
	d, _ := json.Marshal(dropped)
	out := make([]byte, 0, len(common)+len(d)+16)
	out = append(out, common[:len(common)-1]...)
	out = append(out, `,"ws_dropped":`...)
	out = append(out, d...)
	return append(out, '}')
}
