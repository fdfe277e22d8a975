package testkit

import "bytes"

// FlatJPEG hand-writes a w×h mid-grey (128) baseline JPEG whose Huffman
// tables have a single one-bit code each (DC difference 0, then end of
// block), so every 8×8 block costs two bits: 6000×6000 is 141 KB, written
// without an encoder pass over 36 million pixels (seconds under -race). It
// is a valid image that decodes to its full size: the decompression bomb
// that passes every header check.
func FlatJPEG(w, h int) []byte {
	var b bytes.Buffer
	seg := func(marker byte, payload ...byte) {
		b.Write([]byte{0xFF, marker, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)})
		b.Write(payload)
	}
	b.Write([]byte{0xFF, 0xD8})
	seg(0xDB, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...)...)       // DQT 0: all ones
	seg(0xC0, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0) // SOF0, one component
	oneCode := []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}  // one code of length 1: symbol 0
	seg(0xC4, append([]byte{0x00}, oneCode...)...)                        // DC table 0
	seg(0xC4, append([]byte{0x10}, oneCode...)...)                        // AC table 0 (0x00 = EOB)
	seg(0xDA, 1, 1, 0x00, 0, 63, 0)                                       // SOS
	blocks := (w + 7) / 8 * ((h + 7) / 8)
	b.Write(make([]byte, (2*blocks+7)/8))
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}
