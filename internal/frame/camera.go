package frame

import (
	"fmt"
	"unicode/utf8"
)

// MaxCameraLen is the longest camera id, in bytes. Camera ids are record
// keys, and become metric labels and file names; the dashboard's WebSocket
// protocol gives an id's length one byte.
const MaxCameraLen = 128

// ValidCamera reports whether id is a camera id: 1 to MaxCameraLen bytes
// of valid UTF-8. The publisher refuses other ids, DecodeMeta refuses a
// record keyed by one, and the dashboard ignores frames and results that
// carry one.
func ValidCamera(id string) bool {
	return id != "" && len(id) <= MaxCameraLen && utf8.ValidString(id)
}

// CheckCamera returns nil for a valid camera id (ValidCamera), else an
// error that says what an id must be, for users naming cameras.
func CheckCamera(id string) error {
	if ValidCamera(id) {
		return nil
	}
	return fmt.Errorf("camera id %q: want 1 to %d bytes of UTF-8", id, MaxCameraLen)
}
