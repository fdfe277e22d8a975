package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

// TestTwoBrokersOnOneDirectory is the failure this file exists for: two
// brokers on the default demo directory. Without framecast's lock, kfake
// interleaves their batches in one segment file and loads the result
// without complaint; the verifier must see it, and the lock must make it
// impossible.
func TestTwoBrokersOnOneDirectory(t *testing.T) {
	dir := t.TempDir()

	t.Run("kfake alone corrupts the directory and the verifier sees it", func(t *testing.T) {
		var cs []*kfake.Cluster
		for range 2 {
			c, err := kfake.NewCluster(kfake.DataDir(dir), kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		ctx := ctxTimeout(t, 20*time.Second)
		for i, c := range cs {
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"))
			if err != nil {
				t.Fatal(err)
			}
			for j := range 5 {
				rec := &kgo.Record{Value: fmt.Appendf(nil, "broker %d record %d", i, j)}
				if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			cl.Close()
		}
		for _, c := range cs {
			c.Close()
		}
		rep, err := verifyDataDir(dir, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Damaged) != 1 || rep.Damaged[0].Topic != "t" || rep.Damaged[0].Partition != 0 {
			t.Fatalf("damaged = %v, want partition t-0", rep.Damaged)
		}
		d := rep.Damaged[0]
		if d.Offset != 5 || !strings.Contains(d.Reason, "offset 0 where offset 5 follows") {
			t.Errorf("damage %s: want the second broker's offset 0 where 5 follows", d)
		}
	})

	t.Run("the lock refuses a second broker until the first has closed", func(t *testing.T) {
		dir := t.TempDir()
		a := startBroker(t, Config{DataDir: dir})
		_, err := Start(context.Background(), Config{Listen: testkit.FreeAddr(t), DataDir: dir, Logger: testLogger(t)})
		var inUse *DataDirInUseError
		if !errors.As(err, &inUse) {
			t.Fatalf("second broker: %v, want DataDirInUseError", err)
		}
		if inUse.Holder != os.Getpid() || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
			t.Errorf("error %q: want the directory and the holder's pid", err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		b := startBroker(t, Config{DataDir: dir})
		b.Close()
	})
}

// writeRecords starts a broker on dir, produces n records of size bytes
// to partition 0 of the frames topic, one batch each, and closes it. It
// returns the values.
func writeRecords(t *testing.T, cfg Config, n, size int) [][]byte {
	t.Helper()
	b := startBroker(t, cfg)
	ctx := ctxTimeout(t, 30*time.Second)
	cl := newClient(t, kafka.Config{Brokers: b.Addr()}, kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	var values [][]byte
	for i := range n {
		v := bytes.Repeat([]byte{byte(i)}, size)
		copy(v, strconv.Itoa(i))
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kafka.DefaultFramesTopic, Partition: 0, Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		values = append(values, v)
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return values
}

// readAll reads partition 0 of the frames topic from the start.
func readAll(t *testing.T, addr string) [][]byte {
	t.Helper()
	ctx := ctxTimeout(t, 30*time.Second)
	adm := newAdmin(t, addr)
	ends, err := adm.ListEndOffsets(ctx, kafka.DefaultFramesTopic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(kafka.DefaultFramesTopic, 0)
	cl := newClient(t, kafka.Config{Brokers: addr}, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		kafka.DefaultFramesTopic: {0: kgo.NewOffset().AtStart()},
	}))
	var got [][]byte
	for int64(len(got)) < end.Offset {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("reading back: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
	}
	return got
}

func segmentPaths(t *testing.T, dir string) []string {
	t.Helper()
	pdir := filepath.Join(dir, "partitions", kafka.DefaultFramesTopic+"-0")
	segs, err := listSegments(pdir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range segs {
		out = append(out, filepath.Join(pdir, strconv.FormatInt(s, 10)+".dat"))
	}
	return out
}

// TestDamagedDirectoryRefusedThenRepaired damages a segment file on disk
// the ways it happens (batches interleaved by a second broker, a sealed
// segment cut short, a flipped bit, a bad index entry): the broker refuses
// to start and names the partition; --repair cuts the partition at its
// first bad batch, keeps a copy, and every record before it reads back
// byte for byte.
func TestDamagedDirectoryRefusedThenRepaired(t *testing.T) {
	// Segments of 2 KiB hold three 600-byte records each.
	// Segments of 2 KiB hold four 600-byte records (kfake rolls once a
	// segment has reached its size).
	small := kafka.TopicSettings{Partitions: 1, SegmentBytes: 2 << 10, MaxMessageBytes: 2 << 10}
	const n, size, perSeg = 16, 600, 4

	tests := []struct {
		name string
		// damage changes the directory, whose batches are batch bytes
		// long, and returns how many records stay readable after a
		// repair.
		damage    func(t *testing.T, dir string, batch int64) int
		reason    string
		indexOnly bool
	}{
		{"interleaved by a second broker", func(t *testing.T, dir string, batch int64) int {
			// Another broker's first batch (offset 0), appended to the
			// middle segment as a concurrent O_APPEND writer does.
			segs := segmentPaths(t, dir)
			other := t.TempDir()
			writeRecords(t, Config{DataDir: other, TopicSettings: small}, 1, size)
			foreign, err := os.ReadFile(segmentPaths(t, other)[0])
			if err != nil {
				t.Fatal(err)
			}
			mid, err := os.ReadFile(segs[1])
			if err != nil {
				t.Fatal(err)
			}
			cut := batch // after the segment's first batch
			out := append(append(append([]byte{}, mid[:cut]...), foreign...), mid[cut:]...)
			if err := os.WriteFile(segs[1], out, 0o644); err != nil {
				t.Fatal(err)
			}
			return perSeg + 1
		}, "two brokers wrote", false},
		{"sealed segment cut short", func(t *testing.T, dir string, batch int64) int {
			segs := segmentPaths(t, dir)
			if err := os.Truncate(segs[1], 2*batch-100); err != nil {
				t.Fatal(err)
			}
			return perSeg + 1
		}, "only", false},
		{"bit flipped", func(t *testing.T, dir string, batch int64) int {
			segs := segmentPaths(t, dir)
			b, err := os.ReadFile(segs[2])
			if err != nil {
				t.Fatal(err)
			}
			b[batch+200] ^= 0x10 // inside the second batch's value
			if err := os.WriteFile(segs[2], b, 0o644); err != nil {
				t.Fatal(err)
			}
			return 2*perSeg + 1
		}, "fails its CRC", false},
		{"segment at the wrong base offset", func(t *testing.T, dir string, batch int64) int {
			// As two brokers rolling at different offsets leave it.
			segs := segmentPaths(t, dir)
			for _, ext := range []string{".dat", ".idx"} {
				from := strings.TrimSuffix(segs[2], ".dat") + ext
				to := filepath.Join(filepath.Dir(from), strconv.Itoa(2*perSeg+1)+ext)
				if err := os.Rename(from, to); err != nil {
					t.Fatal(err)
				}
			}
			return 2 * perSeg
		}, "segment starts at offset 9 where offset 8 follows", false},
		{"length field damaged in the last segment", func(t *testing.T, dir string, batch int64) int {
			// It reads as a batch running past the end of the file,
			// as a torn write does; but the segment held these bytes
			// at the last clean stop.
			segs := segmentPaths(t, dir)
			flipByte(t, segs[3], 9, 0x01)
			return 3 * perSeg
		}, "last clean stop", false},
		{"length field damaged, no snapshot", func(t *testing.T, dir string, batch int64) int {
			// The same after a crash (no snapshot of a clean stop):
			// the whole batches after it tell damage from a tear.
			segs := segmentPaths(t, dir)
			flipByte(t, segs[3], batch+9, 0x01)
			os.Remove(filepath.Join(filepath.Dir(segs[3]), "snapshot.json"))
			return 3*perSeg + 1
		}, "whole batch follows", false},
		{"index entry damaged", func(t *testing.T, dir string, batch int64) int {
			idx := strings.TrimSuffix(segmentPaths(t, dir)[0], ".dat") + ".idx"
			b, err := os.ReadFile(idx)
			if err != nil {
				t.Fatal(err)
			}
			b[indexEntryLen+2] ^= 0x01 // the epoch's low bit
			if err := os.WriteFile(idx, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return n
		}, "checksum", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			values := writeRecords(t, Config{DataDir: dir, TopicSettings: small}, n, size)
			segs := segmentPaths(t, dir)
			if len(segs) != n/perSeg {
				t.Fatalf("%d segments, want %d for this test", len(segs), n/perSeg)
			}
			first, err := scanSegment(segs[0], 0, -1, false)
			if err != nil || len(first.batches) != perSeg {
				t.Fatalf("first segment: %d batches, err %v; want %d", len(first.batches), err, perSeg)
			}
			keep := tt.damage(t, dir, first.batches[0].size)

			_, err = Start(context.Background(), Config{Listen: testkit.FreeAddr(t), DataDir: dir, TopicSettings: small, Logger: testLogger(t)})
			if !errors.Is(err, ErrDataDirDamaged) {
				t.Fatalf("start on a damaged directory: %v, want ErrDataDirDamaged", err)
			}
			for _, want := range []string{kafka.DefaultFramesTopic + "-0", tt.reason, "--repair"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}

			var log bytes.Buffer
			var mu sync.Mutex
			b, err := Start(context.Background(), Config{Listen: testkit.FreeAddr(t), DataDir: dir, TopicSettings: small,
				Repair: true, Logger: slogTo(&mu, &log)})
			if err != nil {
				t.Fatalf("start with repair: %v", err)
			}
			defer b.Close()
			mu.Lock()
			logged := log.String()
			mu.Unlock()
			m := regexp.MustCompile(`removed_records=(\d+)`).FindStringSubmatch(logged)
			if m == nil {
				t.Fatalf("no repair reported:\n%s", logged)
			}
			// A second broker's batches are removed too: at least
			// what was ours past the damage.
			if removed, _ := strconv.Atoi(m[1]); tt.indexOnly && removed != 0 || !tt.indexOnly && removed < n-keep {
				t.Errorf("repair reports %d removed records, want %d", removed, n-keep)
			}
			copies, _ := filepath.Glob(filepath.Join(dir, repairFolder, "*", "partitions", kafka.DefaultFramesTopic+"-0", "*"))
			if len(copies) == 0 {
				t.Error("no copy of what the repair removed")
			}
			got := readAll(t, b.Addr())
			if len(got) != keep {
				t.Fatalf("%d records after repair, want %d", len(got), keep)
			}
			for i := range got {
				if !bytes.Equal(got[i], values[i]) {
					t.Fatalf("record %d differs after repair", i)
				}
			}
			// The repaired partition takes new records at the offset
			// after the last kept one.
			ctx := ctxTimeout(t, 10*time.Second)
			cl := newClient(t, kafka.Config{Brokers: b.Addr()}, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: kafka.DefaultFramesTopic, Value: []byte("after")}).First()
			if err != nil || r.Offset != int64(keep) {
				t.Fatalf("produce after repair: offset %v, err %v; want offset %d", r, err, keep)
			}
		})
	}
}

// TestTornTailRecoversByItself: the last write of a killed broker is cut
// short. The broker starts without --repair and keeps every whole batch.
func TestTornTailRecoversByItself(t *testing.T) {
	dir := t.TempDir()
	values := writeRecords(t, Config{DataDir: dir}, 5, 1000)
	seg := segmentPaths(t, dir)[0]
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The first 500 bytes of a 1,070-byte batch, then the kill; and
	// half an index entry.
	torn := make([]byte, 500)
	copy(torn, []byte{0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 4, 0x22})
	f.Write(torn)
	f.Close()
	idx := strings.TrimSuffix(seg, ".dat") + ".idx"
	fi, _ := os.OpenFile(idx, os.O_WRONLY|os.O_APPEND, 0)
	fi.Write(make([]byte, 7))
	fi.Close()
	// The snapshot from the last clean stop no longer matches, as after
	// a kill.
	os.Remove(filepath.Join(filepath.Dir(seg), "snapshot.json"))

	b := startBroker(t, Config{DataDir: dir})
	got := readAll(t, b.Addr())
	if len(got) != len(values) {
		t.Fatalf("%d records, want %d", len(got), len(values))
	}
	for i := range got {
		if !bytes.Equal(got[i], values[i]) {
			t.Fatalf("record %d differs", i)
		}
	}
	if st, _ := os.Stat(idx); st.Size() != 5*indexEntryLen {
		t.Errorf("index is %d bytes, want %d", st.Size(), 5*indexEntryLen)
	}
	kept, _ := filepath.Glob(filepath.Join(dir, repairFolder, "*", "partitions", kafka.DefaultFramesTopic+"-0", "0.dat.torn-from-byte-*"))
	if len(kept) != 1 {
		t.Fatalf("copies of the torn tail: %v, want one", kept)
	}
	if st, _ := os.Stat(kept[0]); st.Size() != 500 {
		t.Errorf("the copy of the torn tail holds %d bytes, want 500", st.Size())
	}
}

// slogTo is a logger that writes text lines to w under mu.
func slogTo(mu *sync.Mutex, w *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{mu, w}, nil))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// flipByte xors one byte of a file.
func flipByte(t *testing.T, path string, at int64, mask byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= mask
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkVerifyDataDir measures the start-up check on a directory of
// 256 MiB of 60 KiB frames over 12 partitions (a full default frames
// topic is 12 × 256 MiB: multiply by 12).
func BenchmarkVerifyDataDir(b *testing.B) {
	dir := b.TempDir()
	br := startBroker(b, Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	cl := newClient(b, kafka.Config{Brokers: br.Addr()}, kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.DefaultProduceTopic(kafka.DefaultFramesTopic), kgo.ProducerLinger(0))
	ctx := ctxTimeout(b, 5*time.Minute)
	value := bytes.Repeat([]byte{0xff, 0xd8, 7}, 20<<10)
	const total = 256 << 20
	for range total / len(value) {
		cl.Produce(ctx, &kgo.Record{Value: value}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	cl.Close()
	if err := br.Close(); err != nil {
		b.Fatal(err)
	}
	rep, err := verifyDataDir(dir, false)
	if err != nil || rep.Bytes < total {
		b.Fatalf("%d bytes on disk, want %d: %v", rep.Bytes, total, err)
	}
	b.SetBytes(rep.Bytes)
	b.ResetTimer()
	for b.Loop() {
		rep, err := verifyDataDir(dir, false)
		if err != nil || len(rep.Damaged) > 0 {
			b.Fatal(err, rep.Damaged)
		}
	}
}
