package broker

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Repair, with Config.Repair, of a partition verifyDataDir found damaged:
// what is cut is moved aside under <DataDir>/repaired/, never deleted.

// Repair is what repair removed from one partition.
type Repair struct {
	PartitionDamage
	// Batches and Records are counted from the removed batches that
	// still parse; Bytes is everything removed.
	Batches, Records, Bytes int64
	// Copy is where the removed bytes were kept.
	Copy string
}

// repairPartition cuts a damaged partition at its first bad batch: the
// rest of that segment and every later segment are moved under copyDir,
// the partition's index is rebuilt from what stays, and its snapshot is
// removed so kfake recomputes the high watermark from the data.
func repairPartition(p partitionFiles, d PartitionDamage, copyDir string) (Repair, error) {
	r := Repair{PartitionDamage: d, Copy: filepath.Join(copyDir, p.rel)}
	if err := os.MkdirAll(r.Copy, 0o700); err != nil {
		return r, err
	}
	segName := filepath.Base(d.Segment)
	base, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSuffix(segName, ".dat"), ".idx"), 10, 64)
	if err != nil {
		return r, err
	}
	segPath := filepath.Join(p.dir, strconv.FormatInt(base, 10)+".dat")
	idxPath := filepath.Join(p.dir, strconv.FormatInt(base, 10)+".idx")
	// A segment bad from its first byte (one that starts at the wrong
	// offset, say) goes whole, with the later ones; otherwise it is cut
	// at the bad batch and only the later ones go whole.
	whole := !d.IndexOnly && d.Pos == 0
	if !d.IndexOnly {
		// The high watermark of the last clean stop, read before the
		// snapshot is removed below.
		var snap struct {
			HighWatermark int64 `json:"high_watermark"`
		}
		if b, err := os.ReadFile(filepath.Join(p.dir, "snapshot.json")); err == nil {
			_ = json.Unmarshal(b, &snap)
		}
		end := snap.HighWatermark
		if !whole {
			n, err := copyTail(segPath, d.Pos, uniquePath(filepath.Join(r.Copy, fmt.Sprintf("%d.dat.from-byte-%d", base, d.Pos))))
			if err != nil {
				return r, err
			}
			r.Bytes += n
			var e int64
			r.Batches, e = countBatches(segPath, d.Pos)
			end = max(end, e)
			if err := os.Truncate(segPath, d.Pos); err != nil {
				return r, err
			}
		}
		for _, later := range p.segments {
			if later < base || later == base && !whole {
				continue
			}
			from := filepath.Join(p.dir, strconv.FormatInt(later, 10)+".dat")
			b, e := countBatches(from, 0)
			r.Batches += b
			end = max(end, e)
			if st, err := os.Stat(from); err == nil {
				r.Bytes += st.Size()
			}
			for _, f := range []string{from, strings.TrimSuffix(from, ".dat") + ".idx"} {
				if err := os.Rename(f, uniquePath(filepath.Join(r.Copy, filepath.Base(f)))); err != nil && !errors.Is(err, os.ErrNotExist) {
					return r, err
				}
			}
		}
		// The records removed run from the cut to the partition's end:
		// the high watermark of the last clean stop, or past the last
		// removed batch that still parses if that is further (records
		// written after the stop, or destroyed beyond parsing, count).
		r.Records = max(0, end-d.Offset)
	}
	if !whole {
		// Rebuild the index of the segment that stays, keeping the
		// old one.
		if _, err := copyTail(idxPath, 0, uniquePath(filepath.Join(r.Copy, filepath.Base(idxPath)+".old"))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return r, err
		}
		res, err := scanSegment(segPath, base, -1, true)
		if err != nil {
			return r, err
		}
		if err := os.WriteFile(idxPath, buildIndex(res.batches), 0o644); err != nil { //nolint:gosec // kfake's own mode
			return r, err
		}
	}
	// kfake recomputes the high watermark from the data without it.
	if err := os.Remove(filepath.Join(p.dir, "snapshot.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return r, err
	}
	return r, nil
}

// uniquePath is path, or path.1, path.2 … if it exists: a partition
// repaired twice in one start keeps both copies.
func uniquePath(path string) string {
	p := path
	for i := 1; ; i++ {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p
		}
		p = path + "." + strconv.Itoa(i)
	}
}

// copyTail copies path from byte pos to dst and returns the bytes copied.
func copyTail(path string, pos int64, dst string) (int64, error) {
	in, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	if _, err := in.Seek(pos, io.SeekStart); err != nil {
		return 0, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// countBatches counts the batches that still frame and pass their CRC
// from pos on, whatever their offsets, and the offset after the last of
// them: what a repair removes. Past bytes that do not frame, it looks for
// the next whole batch.
func countBatches(path string, pos int64) (batches, end int64) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	for pos < int64(len(b)) {
		size, ok := batchAt(b, pos)
		if !ok {
			at, found := nextBatch(b, pos, 0)
			if !found {
				break
			}
			pos = at
			continue
		}
		batches++
		h := b[pos:]
		first := int64(binary.BigEndian.Uint64(h[0:8]))                                    //nolint:gosec // wire field
		delta := int64(int32(binary.BigEndian.Uint32(h[batchDeltaPos : batchDeltaPos+4]))) //nolint:gosec // wire field
		end = max(end, first+delta+1)
		pos += size
	}
	return batches, end
}
