package broker

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The data directory's layout is kfake's (persist.go in its module):
//
//	<dir>/topics.json                       topic names, partitions and configs
//	<dir>/partitions/<escaped topic>-<p>/   one directory per partition
//	    <base offset>.dat                   Kafka RecordBatches, back to back
//	    <base offset>.idx                   15 bytes of metadata per batch
//	    snapshot.json                       high watermark etc. at last clean stop
//
// kfake itself checks little when it loads: it stops reading a segment at
// the first batch whose CRC fails and silently cuts the rest of the file
// (acknowledged records included), and it never checks that offsets
// follow each other, so batches interleaved by two brokers load and are
// served at positions that belong to other batches. verifyDataDir checks
// all of that before kfake sees the directory.

// RecordBatch header fields (Kafka's wire format, big-endian).
const (
	batchHeaderLen   = 61 // FirstOffset … NumRecords
	batchLenFieldEnd = 12 // FirstOffset(8) + Length(4)
	batchMagicPos    = 16
	batchCRCPos      = 17
	batchCRCStart    = 21 // the CRC covers Attributes to the end
	batchAttrPos     = 21
	batchDeltaPos    = 23
	batchNumRecPos   = 57
	maxBatchLen      = 1 << 30 // kfake's own sanity bound
	indexEntryLen    = 15      // kfake's .idx entry
	repairFolder     = "repaired"
	castagnoliPoly   = crc32.Castagnoli
	partitionsFolder = "partitions"
)

var castagnoli = crc32.MakeTable(castagnoliPoly)

// ErrDataDirDamaged is wrapped by Start's error when a partition of
// the data directory is damaged and Repair is off.
var ErrDataDirDamaged = errors.New("damaged broker data directory")

// PartitionDamage is the first bad batch of one partition.
type PartitionDamage struct {
	Topic     string
	Partition int32
	// Segment is the segment file, relative to the data directory.
	Segment string
	// Pos is the byte position of the first bad batch in Segment.
	Pos int64
	// Offset is the offset the partition should continue with there.
	Offset int64
	Reason string
	// IndexOnly is set when only an index file is bad: repair rebuilds
	// it from its segment and removes no record.
	IndexOnly bool
}

func (d PartitionDamage) String() string {
	if d.IndexOnly {
		return fmt.Sprintf("partition %s-%d: %s: %s", d.Topic, d.Partition, d.Segment, d.Reason)
	}
	return fmt.Sprintf("partition %s-%d: %s at byte %d (offset %d expected): %s",
		d.Topic, d.Partition, d.Segment, d.Pos, d.Offset, d.Reason)
}

// TornTail is an incomplete last write of a partition (a broker killed
// mid-write). Its bytes were never acknowledged to a producer: the broker
// answers a produce request only after the write returned.
type TornTail struct {
	Topic     string
	Partition int32
	Segment   string
	Bytes     int64
	// Copy holds the bytes cut, should they matter after all.
	Copy string
}

// VerifyReport is what verifyDataDir found (and, with repair, did).
type VerifyReport struct {
	Partitions, Segments int
	Batches, Bytes       int64
	TornTails            []TornTail
	Damaged              []PartitionDamage
	Repaired             []Repair
	Took                 time.Duration
}

// partitionFiles is one partition directory found on disk.
type partitionFiles struct {
	topic     string
	partition int32
	dir       string // absolute
	rel       string // relative to the data directory
	segments  []int64
	compacted bool
}

// verifyDataDir checks every partition's segments: batch framing and
// CRCs, offsets contiguous (or, in compacted topics, increasing) from
// each segment's base offset to the next segment's, batches inside their
// segment, index files one valid entry per batch. A torn tail of a
// partition's last segment is cut (and reported); a damaged partition is
// reported, and with repair it is cut at its first bad batch, the removed
// bytes kept under <dir>/repaired/<time>/.
func verifyDataDir(dir string, repair bool) (VerifyReport, error) {
	start := time.Now()
	var rep VerifyReport
	parts, err := findPartitions(dir)
	if err != nil {
		return rep, err
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	for _, p := range parts {
		rep.Partitions++
		counts := &rep
		copyDir := filepath.Join(dir, repairFolder, stamp)
		// A repair of one segment's index leaves the later segments
		// unchecked: walk the partition again until it is clean.
		clean := false
		for range len(p.segments) + 2 {
			d, err := verifyPartition(p, counts, copyDir)
			if err != nil {
				return rep, err
			}
			if d == nil {
				clean = true
				break
			}
			d.Segment = filepath.Join(p.rel, d.Segment)
			if !repair {
				rep.Damaged = append(rep.Damaged, *d)
				break
			}
			r, err := repairPartition(p, *d, copyDir)
			if err != nil {
				return rep, fmt.Errorf("repairing %s: %w", d, err)
			}
			rep.Repaired = append(rep.Repaired, r)
			if p.segments, err = listSegments(p.dir); err != nil {
				return rep, err
			}
			counts = &VerifyReport{} // counted in the first walk
		}
		if !clean && repair {
			return rep, fmt.Errorf("%w: partition %s-%d is still damaged after %d repairs; move %s aside",
				ErrDataDirDamaged, p.topic, p.partition, len(p.segments)+2, p.dir)
		}
	}
	rep.Took = time.Since(start)
	return rep, nil
}

// findPartitions lists the partition directories with their segments.
func findPartitions(dir string) ([]partitionFiles, error) {
	compacted := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(dir, "topics.json")); err == nil {
		var tj struct {
			Topics []struct {
				Name    string            `json:"name"`
				Configs map[string]string `json:"configs"`
			} `json:"topics"`
		}
		if err := json.Unmarshal(b, &tj); err != nil {
			return nil, fmt.Errorf("broker data directory %s: topics.json: %w (move the directory aside to start empty)", dir, err)
		}
		for _, t := range tj.Topics {
			compacted[t.Name] = strings.Contains(t.Configs["cleanup.policy"], "compact")
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("broker data directory %s: %w", dir, err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, partitionsFolder))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broker data directory %s: %w", dir, err)
	}
	var out []partitionFiles
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		i := strings.LastIndexByte(e.Name(), '-')
		if i < 0 {
			continue
		}
		p, err := strconv.ParseInt(e.Name()[i+1:], 10, 32)
		if err != nil {
			continue
		}
		topic, err := url.PathUnescape(e.Name()[:i])
		if err != nil {
			continue
		}
		pf := partitionFiles{
			topic: topic, partition: int32(p), compacted: compacted[topic],
			rel: filepath.Join(partitionsFolder, e.Name()),
			dir: filepath.Join(dir, partitionsFolder, e.Name()),
		}
		if pf.segments, err = listSegments(pf.dir); err != nil {
			return nil, err
		}
		out = append(out, pf)
	}
	return out, nil
}

// listSegments returns the base offsets of a partition's segment files.
func listSegments(dir string) ([]int64, error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("broker data directory: %w", err)
	}
	var segs []int64
	for _, f := range files {
		if base, ok := strings.CutSuffix(f.Name(), ".dat"); ok {
			if n, err := strconv.ParseInt(base, 10, 64); err == nil {
				segs = append(segs, n)
			}
		}
	}
	slices.Sort(segs)
	return segs, nil
}

// batchHead is what the verifier keeps of a batch.
type batchHead struct {
	pos, size   int64
	first, last int64 // offsets
	records     int32
	epoch       int32
	inTx        bool
}

// scanResult is one segment's walk.
type scanResult struct {
	batches []batchHead
	good    int64 // bytes of whole, valid batches from the start
	size    int64
	bad     string // why the walk stopped before size; "" if it did not
	torn    bool   // the stop is an incomplete last batch
}

// scanSegment walks a segment's batches, checking framing, magic, CRC and
// offsets. next is the offset the segment must start at (-1: unknown).
// It reads the file once, a batch at a time.
func scanSegment(path string, base, next int64, compacted bool) (scanResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return scanResult{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return scanResult{}, err
	}
	res := scanResult{size: st.Size()}
	r := bufio.NewReaderSize(f, 256<<10)
	var hdr [batchHeaderLen]byte
	crc := crc32.New(castagnoli)
	if next < 0 {
		next = base
	}
	for res.good < res.size {
		remain := res.size - res.good
		if remain < batchLenFieldEnd {
			res.bad, res.torn = fmt.Sprintf("%d bytes after the last batch, too few for a batch header", remain), true
			break
		}
		_, err := io.ReadFull(r, hdr[:min(int64(batchHeaderLen), remain)])
		if err != nil {
			return res, err
		}
		length := int64(int32(binary.BigEndian.Uint32(hdr[8:12]))) //nolint:gosec // a signed field on the wire
		size := batchLenFieldEnd + length
		first := int64(binary.BigEndian.Uint64(hdr[0:8])) //nolint:gosec // a signed field on the wire
		switch {
		case length < batchHeaderLen-batchLenFieldEnd || length > maxBatchLen:
			res.bad = fmt.Sprintf("batch length %d is impossible", length)
		case size > remain:
			res.bad, res.torn = fmt.Sprintf("a batch of %d bytes with only %d bytes left in the file", size, remain), true
		case hdr[batchMagicPos] != 2:
			res.bad = fmt.Sprintf("record batch magic %d, not 2", int8(hdr[batchMagicPos])) //nolint:gosec // a byte
		case first != next && !(compacted && first > next):
			res.bad = fmt.Sprintf("batch at offset %d where offset %d follows (two brokers wrote to this directory?)", first, next)
		}
		if res.bad != "" {
			break
		}
		crc.Reset()
		crc.Write(hdr[batchCRCStart:])
		if _, err := io.CopyN(crc, r, size-batchHeaderLen); err != nil {
			return res, err
		}
		if got, want := crc.Sum32(), binary.BigEndian.Uint32(hdr[batchCRCPos:batchCRCStart]); got != want {
			res.bad = fmt.Sprintf("batch at offset %d fails its CRC (stored %08x, computed %08x)", first, want, got)
			break
		}
		delta := int64(int32(binary.BigEndian.Uint32(hdr[batchDeltaPos : batchDeltaPos+4]))) //nolint:gosec // wire field
		if delta < 0 {
			res.bad = fmt.Sprintf("batch at offset %d has a negative last offset delta", first)
			break
		}
		attr := binary.BigEndian.Uint16(hdr[batchAttrPos : batchAttrPos+2])
		res.batches = append(res.batches, batchHead{
			pos: res.good, size: size, first: first, last: first + delta,
			records: int32(binary.BigEndian.Uint32(hdr[batchNumRecPos : batchNumRecPos+4])), //nolint:gosec // wire field
			epoch:   int32(binary.BigEndian.Uint32(hdr[12:16])),                             //nolint:gosec // wire field
			// kfake marks a transactional data batch inTx when it
			// writes it and never clears it on disk.
			inTx: attr&0x10 != 0 && attr&0x20 == 0,
		})
		res.good += size
		next = first + delta + 1
	}
	return res, nil
}

// verifyPartition walks one partition. It cuts a torn tail of the last
// segment (and of its index) and returns the first damage, if any.
func verifyPartition(p partitionFiles, rep *VerifyReport, copyDir string) (*PartitionDamage, error) {
	next := int64(-1)
	cleanSizes := snapshotSizes(p.dir)
	for i, base := range p.segments {
		rep.Segments++
		last := i == len(p.segments)-1
		name := strconv.FormatInt(base, 10) + ".dat"
		segPath := filepath.Join(p.dir, name)
		if next >= 0 && base != next && !(p.compacted && base > next) {
			return &PartitionDamage{Topic: p.topic, Partition: p.partition, Segment: name, Offset: next,
				Reason: fmt.Sprintf("segment starts at offset %d where offset %d follows", base, next)}, nil
		}
		res, err := scanSegment(segPath, base, next, p.compacted)
		if err != nil {
			return nil, fmt.Errorf("broker data directory: reading %s: %w", segPath, err)
		}
		rep.Batches += int64(len(res.batches))
		rep.Bytes += res.good
		if len(res.batches) > 0 {
			next = res.batches[len(res.batches)-1].last + 1
		} else if next < 0 {
			next = base
		}
		if res.bad != "" {
			torn := res.torn && last
			if size, ok := cleanSizes[base]; torn && ok && res.good < size {
				// Bytes the segment held at the last clean stop
				// were acknowledged: this is damage, not a write
				// cut short by a kill.
				torn, res.bad = false, fmt.Sprintf("%s, inside the %d bytes the segment held at the last clean stop", res.bad, size)
			}
			if at, ok := findBatch(segPath, res.good, next); torn && ok {
				// A whole batch further on: the length field
				// before it is damaged, the write was not torn.
				torn, res.bad = false, fmt.Sprintf("%s, but a whole batch follows at byte %d", res.bad, at)
			}
			if torn {
				copyPath := filepath.Join(copyDir, p.rel, fmt.Sprintf("%s.torn-from-byte-%d", name, res.good))
				if err := os.MkdirAll(filepath.Dir(copyPath), 0o700); err != nil {
					return nil, fmt.Errorf("broker data directory: %w", err)
				}
				if _, err := copyTail(segPath, res.good, copyPath); err != nil {
					return nil, fmt.Errorf("broker data directory: keeping the torn tail of %s: %w", segPath, err)
				}
				if err := os.Truncate(segPath, res.good); err != nil {
					return nil, fmt.Errorf("broker data directory: cutting the torn tail of %s: %w", segPath, err)
				}
				rep.TornTails = append(rep.TornTails, TornTail{Topic: p.topic, Partition: p.partition,
					Segment: filepath.Join(p.rel, name), Bytes: res.size - res.good, Copy: copyPath})
			} else {
				return &PartitionDamage{Topic: p.topic, Partition: p.partition, Segment: name,
					Pos: res.good, Offset: next, Reason: res.bad}, nil
			}
		}
		if d, err := verifyIndex(p, base, res.batches, last); d != nil || err != nil {
			return d, err
		}
	}
	return nil, nil
}

// verifyIndex checks a segment's index: whole 15-byte entries with valid
// checksums, no more than there are batches. The last segment's index may
// miss its last entry or end in a partial one (the broker writes the batch,
// then its entry): that is cut like a torn segment. Entries beyond the
// batches are orphans kfake would drop itself; we drop them first.
func verifyIndex(p partitionFiles, base int64, batches []batchHead, last bool) (*PartitionDamage, error) {
	name := strconv.FormatInt(base, 10) + ".idx"
	path := filepath.Join(p.dir, name)
	idx, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		idx = nil
	} else if err != nil {
		return nil, fmt.Errorf("broker data directory: %w", err)
	}
	whole := len(idx) / indexEntryLen
	damaged := func(why string) *PartitionDamage {
		return &PartitionDamage{Topic: p.topic, Partition: p.partition, Segment: name, IndexOnly: true, Reason: why}
	}
	for i := range min(whole, len(batches)) {
		e := idx[i*indexEntryLen : (i+1)*indexEntryLen]
		if byte(crc32.Checksum(e[2:], castagnoli)) != e[1] {
			return damaged(fmt.Sprintf("index entry %d fails its checksum", i)), nil
		}
	}
	switch {
	case whole > len(batches) || len(idx)%indexEntryLen != 0 && whole >= len(batches):
		// Entries past the last batch: cut them.
		return nil, truncateFile(path, int64(len(batches)*indexEntryLen))
	case !last && (whole < len(batches) || len(idx)%indexEntryLen != 0):
		return damaged(fmt.Sprintf("index holds %d entries (%d bytes) for %d batches", whole, len(idx), len(batches))), nil
	case last && whole < len(batches):
		// The broker was killed between a batch and its entry: write
		// the missing entries, or kfake would append the next batch's
		// entry in the missing one's place.
		fixed := append(idx[:whole*indexEntryLen:whole*indexEntryLen], buildIndex(batches[whole:])...)
		if err := os.WriteFile(path, fixed, 0o644); err != nil { //nolint:gosec // kfake's own mode
			return nil, fmt.Errorf("broker data directory: %w", err)
		}
	case last && len(idx)%indexEntryLen != 0:
		return nil, truncateFile(path, int64(whole*indexEntryLen))
	}
	return nil, nil
}

func truncateFile(path string, size int64) error {
	if err := os.Truncate(path, size); err != nil {
		return fmt.Errorf("broker data directory: %w", err)
	}
	return nil
}

// snapshotSizes reads the segment sizes kfake recorded in the partition's
// snapshot at its last clean stop (none if it has no snapshot).
func snapshotSizes(dir string) map[int64]int64 {
	var snap struct {
		Segments []struct {
			Base int64 `json:"base_offset"`
			Size int64 `json:"size"`
		} `json:"segments"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "snapshot.json"))
	if err != nil || json.Unmarshal(b, &snap) != nil {
		return nil
	}
	sizes := make(map[int64]int64, len(snap.Segments))
	for _, sg := range snap.Segments {
		sizes[sg.Base] = sg.Size
	}
	return sizes
}

// findBatch looks for a whole, CRC-valid batch starting after pos whose
// first offset is at least next: proof that the bytes at pos are damage
// rather than the tail of an interrupted write, which nothing follows.
func findBatch(path string, pos, next int64) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	return nextBatch(b, pos, next)
}

// buildIndex writes kfake's index entries for batches: version 1, a
// checksum byte, the leader epoch, the running max timestamp (which kfake
// recomputes on load, so 0 here) and the in-transaction flag.
func buildIndex(batches []batchHead) []byte {
	out := make([]byte, 0, len(batches)*indexEntryLen)
	for _, b := range batches {
		var e [indexEntryLen]byte
		e[0] = 1
		binary.LittleEndian.PutUint32(e[2:6], uint32(b.epoch)) //nolint:gosec // bits as stored
		if b.inTx {
			e[14] = 1
		}
		e[1] = byte(crc32.Checksum(e[2:], castagnoli))
		out = append(out, e[:]...)
	}
	return out
}

// batchAt reports whether a whole batch with a valid CRC starts at pos,
// and its size.
func batchAt(b []byte, pos int64) (int64, bool) {
	if pos+batchHeaderLen > int64(len(b)) {
		return 0, false
	}
	h := b[pos:]
	length := int64(int32(binary.BigEndian.Uint32(h[8:12]))) //nolint:gosec // wire field
	if h[batchMagicPos] != 2 || length < batchHeaderLen-batchLenFieldEnd || pos+batchLenFieldEnd+length > int64(len(b)) {
		return 0, false
	}
	body := h[batchCRCStart : batchLenFieldEnd+length]
	return batchLenFieldEnd + length, crc32.Checksum(body, castagnoli) == binary.BigEndian.Uint32(h[batchCRCPos:batchCRCStart])
}

// nextBatch finds the first whole batch after pos whose first offset is
// at least next.
func nextBatch(b []byte, pos, next int64) (int64, bool) {
	for at := pos + 1; at+batchHeaderLen <= int64(len(b)); at++ {
		if b[at+batchMagicPos] != 2 {
			continue
		}
		first := int64(binary.BigEndian.Uint64(b[at : at+8])) //nolint:gosec // wire field
		if first < next || first > next+int64(len(b)) && next > 0 {
			continue
		}
		if _, ok := batchAt(b, at); ok {
			return at, true
		}
	}
	return 0, false
}

// checkDataDir verifies the directory before kfake loads it, narrates what
// it found and refuses a damaged one (unless repair).
func checkDataDir(dir string, repair bool, log *slog.Logger) error {
	rep, err := verifyDataDir(dir, repair)
	if err != nil {
		return err
	}
	for _, t := range rep.TornTails {
		log.Warn("cut the torn tail of a partition (a broker was killed mid-write; those bytes were never acknowledged)",
			"topic", t.Topic, "partition", t.Partition, "segment", t.Segment, "bytes", t.Bytes, "copy", t.Copy)
	}
	for _, r := range rep.Repaired {
		log.Warn("repaired a damaged partition: cut at its first bad batch",
			"topic", r.Topic, "partition", r.Partition, "segment", r.Segment, "at_byte", r.Pos, "at_offset", r.Offset,
			"reason", r.Reason, "removed_batches", r.Batches, "removed_records", r.Records, "removed_bytes", r.Bytes,
			"copy", r.Copy)
	}
	if len(rep.Damaged) > 0 {
		lines := make([]string, len(rep.Damaged))
		for i, d := range rep.Damaged {
			lines[i] = "  " + d.String()
		}
		return fmt.Errorf("%w %s:\n%s\nstart the broker once with --repair to cut each damaged partition at its first bad batch "+
			"(a copy of what is removed is kept in %s), or move the directory aside to start empty",
			ErrDataDirDamaged, dir, strings.Join(lines, "\n"), filepath.Join(dir, repairFolder))
	}
	log.Info("data directory verified", "data_dir", dir, "partitions", rep.Partitions, "segments", rep.Segments,
		"batches", rep.Batches, "bytes", rep.Bytes, "repaired", len(rep.Repaired), "took", rep.Took.Round(time.Millisecond))
	return nil
}
