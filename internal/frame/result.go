// Package frame holds the records framecast exchanges through Kafka: the
// frame record (key, value and framecast-* headers on the frames topic),
// the per-frame result (schema framecast.result.v1) and its JSON Schema,
// and the dead-letter headers. It is the wire format, and nothing else:
// it knows no broker, no network, no analysis.
//
// Invariants:
//   - Field names, units, header names and label order are a public
//     contract; a change to them is a new schema version, never an edit.
//     An optional field may be added to v1 (analysis, track_id and
//     source were): readers that ignore unknown fields are unaffected,
//     and the schema here accepts results with and without it, but a
//     reader validating against an older copy of the schema file (which
//     forbids unknown fields) must take the new one.
//   - A frame record's key is its camera id (ValidCamera: 1 to
//     MaxCameraLen bytes of valid UTF-8), so every frame of a
//     camera lands in one partition and keeps its order.
//   - Decoding outside input never panics and never trusts it: DecodeMeta
//     bounds every header and falls back (record timestamp, offset) only
//     where a record from another producer lacks framecast's headers.
//   - JSONSchema is the contract for readers; the tests validate every
//     result they make against it.
package frame

import (
	_ "embed"
	"time"
)

// Schema is the value of Result.Schema.
const Schema = "framecast.result.v1"

// Labels is the emotion model's output order (FER2013).
var Labels = [7]string{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}

// Status values.
const (
	StatusOK      = "ok"
	StatusSkipped = "skipped"
)

// Result is one analysed frame. Field names and units are a public contract:
// change them only together with the schema's version.
type Result struct {
	Schema      string    `json:"schema"`
	Camera      string    `json:"camera"`
	Seq         int64     `json:"seq"`
	CapturedAt  time.Time `json:"captured_at"`
	ProcessedAt time.Time `json:"processed_at"`
	LatencyMS   float64   `json:"latency_ms"`
	Status      string    `json:"status"`
	// Analysis says how fresh the faces are: "full" (the detector ran),
	// "tracked" (followed from earlier frames without it) or "reused" (a
	// static frame given the last analysed frame's faces). Absent from
	// results of stages that keep no per-camera state, and from skipped ones.
	Analysis  string    `json:"analysis,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Frame     FrameInfo `json:"frame"`
	Faces     []Face    `json:"faces"`
	TimingsMS Timings   `json:"timings_ms"`
	Worker    string    `json:"worker"`
}

// FrameInfo says where the frame came from. Topic, partition and offset are
// set for frames read from Kafka; Source for files analysed offline.
type FrameInfo struct {
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Topic     string `json:"topic,omitempty"`
	Partition *int32 `json:"partition,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
	Source    string `json:"source,omitempty"`
}

// Box is an axis-aligned rectangle in original-frame pixels.
type Box struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

// Face is one detected face. Box is the tight detector box; Emotions always
// holds all seven labels.
type Face struct {
	Box      Box                `json:"box"`
	Score    float64            `json:"score"`
	Emotion  string             `json:"emotion"`
	Emotions map[string]float64 `json:"emotions"`
	// TrackID is the same for a person's face in consecutive frames of a
	// camera while they stay in view (0, omitted: not tracked). Unique per
	// camera while its sequence numbers grow (a publisher restarted counts
	// from 0 again, and so do the ids), not across cameras.
	TrackID int64 `json:"track_id,omitempty"`
	// Source is "detected" when the box came from the detector in this
	// frame, "tracked" when it was followed from earlier ones. A reused
	// frame (Result.Analysis "reused") carries the last analysed frame's
	// faces as they were, sources included: no network ran on it.
	Source string `json:"source,omitempty"`
}

// Timings are the per-stage durations in milliseconds.
type Timings struct {
	Queue    float64 `json:"queue"`
	Decode   float64 `json:"decode"`
	Detect   float64 `json:"detect"`
	Classify float64 `json:"classify"`
	Total    float64 `json:"total"`
}

// JSONSchema is the JSON Schema (draft 2020-12) of Result.
//
//go:embed result.v1.schema.json
var JSONSchema []byte
