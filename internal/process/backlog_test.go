package process

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/testkit"
)

// paddedJPEG is a small valid JPEG padded with comment segments to size
// bytes, so frames weigh what camera frames do but decode quickly.
func paddedJPEG(t testing.TB, size int, rng *rand.Rand) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
	}
	img.Set(0, 0, color.Gray{Y: 1})
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	small := b.Bytes()
	out := append([]byte(nil), small[:2]...) // SOI
	for len(out)+len(small)-2 < size {
		n := min(size-(len(out)+len(small)-2)-4, 65533)
		if n <= 0 {
			break
		}
		out = append(out, 0xFF, 0xFE, byte((n+2)>>8), byte(n+2))
		for range n {
			out = append(out, byte(rng.IntN(256)))
		}
	}
	return append(out, small[2:]...)
}

// backlog produces frames of the given sizes (cycled) over the partitions
// in one go, as a publisher that ran ahead of the processors leaves them;
// batchMax bounds the producer's batches, so the fetch responses' sizes.
func backlog(t testing.TB, tc *testCluster, n int, partitions int32, batchMax int32, sizes ...int) (total int64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var imgs [][]byte
	for _, s := range sizes {
		imgs = append(imgs, paddedJPEG(t, s, rng))
	}
	recs := make([]*kgo.Record, 0, n)
	now := time.Now()
	for i := range n {
		part := int32(i) % partitions
		img := imgs[i%len(imgs)]
		total += int64(len(img))
		recs = append(recs, testkit.FrameRecord(fmt.Sprintf("cam-%d", part), part, int64(i), now, img))
	}
	// Uncompressed, as the publisher sends frames: a broker bounds its
	// fetch responses by compressed bytes, and frames do not compress.
	cl := tc.Client(t, kgo.ProducerBatchMaxBytes(batchMax), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	return total
}

// cameraSizes are the frame sizes of the backlogs: 60–200 KB.
var cameraSizes = []int{60 << 10, 100 << 10, 150 << 10, 200 << 10}

// TestBufferedBytesBounded works through a backlog far larger than the
// memory bounds with a slow analyzer and checks that what the processor
// holds ahead (its own frames in flight plus the client's fetched
// records) never exceeds MaxInFlightBytes + 2 × the largest response,
// and that a frame larger than every bound still goes through.
func TestBufferedBytesBounded(t *testing.T) {
	const maxFrame = 16<<20 - 8<<10 // the frames topic takes 16 MiB records
	for _, tt := range []struct {
		name       string
		partitions int32
		frames     int
		batchMax   int32 // the producer's batches, so the largest response
		sizes      []int
	}{
		{"many partitions", 24, 480, 256 << 10, cameraSizes},
		{"one frame above every bound", 4, 120, 16 << 20, append([]int{maxFrame}, cameraSizes...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newCluster(t, tt.partitions)
			sizes := tt.sizes
			if len(sizes) > len(cameraSizes) { // the huge frame once, then camera frames
				backlog(t, tc, 1, tt.partitions, tt.batchMax, sizes[0])
				sizes = sizes[1:]
			}
			total := backlog(t, tc, tt.frames, tt.partitions, tt.batchMax, sizes...)
			want := tt.frames + len(tt.sizes) - len(sizes)
			o := tc.options(t)
			o.Group = "bounded"
			o.MaxAge = -1
			o.MaxInFlight = 64 // the byte bound is the one that binds
			o.MaxInFlightBytes = 1 << 20
			o.FetchMaxBytes = 1 << 20
			o.NewAnalyzer = func() (analysis.Analyzer, error) { return &analysis.Fake{Delay: time.Millisecond}, nil }
			p := start(t, o)
			testkit.Eventually(t, 120*time.Second, "every frame to be delivered", func() bool { return p.Stats().Out() >= uint64(want) })
			if err := p.stop(); err != nil {
				t.Fatal(err)
			}
			s := p.Stats()
			bound := o.MaxInFlightBytes + 2*max(int64(o.FetchMaxBytes), int64(tt.batchMax))
			t.Logf("backlog %.1f MB; peak buffered %.2f MB, bound %.2f MB", float64(total)/1e6, float64(s.PeakBufferedBytes)/1e6, float64(bound)/1e6)
			if s.PeakBufferedBytes <= 0 || s.PeakBufferedBytes > bound {
				t.Errorf("peak buffered %d bytes, want 1 to %d", s.PeakBufferedBytes, bound)
			}
			if s.Out() != uint64(want) || s.ProduceErrors != 0 || s.InFlightBytes != 0 {
				t.Errorf("stats %+v, want %d delivered and nothing left in flight", s, want)
			}
		})
	}
}

// heapPeak samples the heap every 5 ms until stop is called and returns
// the largest HeapInuse seen: what the process needs from the OS.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak.Store(max(peak.Load(), ms.HeapInuse))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// BenchmarkBacklogHeap measures the peak heap while a processor (two
// workers, 10 ms per frame) works through a backlog of 1200 frames of
// 60–200 KB (157 MB), with the embedded broker in the same process as
// framecast demo and bench run it. Run with -benchtime=1x.
func BenchmarkBacklogHeap(b *testing.B) {
	for _, bb := range []struct {
		name       string
		partitions int32
		batchMax   int32
	}{
		{"48-partitions", 48, 1 << 20},
		{"6-partitions-16MiB-batches", 6, 16 << 20},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for range b.N {
				tc := newCluster(b, bb.partitions)
				const frames = 1200
				backlog(b, tc, frames, bb.partitions, bb.batchMax, cameraSizes...)
				runtime.GC()
				stop := heapPeak()
				o := tc.options(b)
				o.Group = "backlog"
				o.MaxAge = -1
				o.NewAnalyzer = func() (analysis.Analyzer, error) { return &analysis.Fake{Delay: 10 * time.Millisecond}, nil }
				p := start(b, o)
				testkit.Eventually(b, 120*time.Second, "every frame to be delivered", func() bool { return p.Stats().Out() >= frames })
				peak := stop()
				if err := p.stop(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
				b.ReportMetric(float64(p.Stats().PeakBufferedBytes)/1e6, "peak-buffered-MB")
			}
		})
	}
}

// TestBacklogServedFairly: with a backlog on every partition and fetches
// far smaller than it, every partition makes progress from the start. The
// embedded broker answers an incremental fetch with the partitions the
// request names first, and a client in a fetch session names only those
// whose offsets moved: without care, the partitions served once are served
// again and again while the others starve until their frames expire (the
// 30-minute soak lost 5,469 frames of one camera that way).
func TestBacklogServedFairly(t *testing.T) {
	const partitions, perPartition = 16, 48
	tc := newCluster(t, partitions)
	backlog(t, tc, partitions*perPartition, partitions, 128<<10, 60<<10)
	o := tc.options(t)
	o.Group = "fair"
	o.MaxAge = -1
	o.MaxInFlight = 8
	o.FetchMaxBytes = 256 << 10 // four frames a fetch
	o.NewAnalyzer = func() (analysis.Analyzer, error) { return &analysis.Fake{Delay: 2 * time.Millisecond}, nil }
	p := start(t, o)
	quarter := uint64(partitions * perPartition / 4)
	testkit.Eventually(t, 60*time.Second, "a quarter of the backlog delivered", func() bool { return p.Stats().Out() >= quarter })
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	n := int(p.Stats().Out())
	perCamera := map[string]int{}
	for _, r := range tc.ReadTopic(t, topics.Results, n) {
		perCamera[string(r.Key)]++
	}
	var starved []string
	for i := range partitions {
		if id := fmt.Sprintf("cam-%d", i); perCamera[id] == 0 {
			starved = append(starved, id)
		}
	}
	t.Logf("after %d frames: %v", n, perCamera)
	if len(starved) > 0 {
		t.Errorf("%d of %d cameras had no frame analysed after a quarter of the backlog: %v", len(starved), partitions, starved)
	}
}

func TestRoundRobin(t *testing.T) {
	rec := func(p int32, off int64) *kgo.Record {
		return &kgo.Record{Topic: "f", Partition: p, Offset: off}
	}
	for _, tt := range []struct {
		name string
		in   []*kgo.Record
		want string
	}{
		{"empty", nil, ""},
		{"one partition keeps its order", []*kgo.Record{rec(0, 1), rec(0, 2), rec(0, 3)}, "0/1 0/2 0/3"},
		{"partitions in turn", []*kgo.Record{rec(0, 1), rec(0, 2), rec(0, 3), rec(1, 7), rec(2, 4), rec(2, 5)},
			"0/1 1/7 2/4 0/2 2/5 0/3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range roundRobin(tt.in) {
				got = append(got, fmt.Sprintf("%d/%d", r.Partition, r.Offset))
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("got %q, want %q", s, tt.want)
			}
		})
	}
}
