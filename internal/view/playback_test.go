package view

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/testkit"
)

// TestViewPlayback: the matching buffer plays every frame with its own
// result, in order; a frame whose result is not coming is played without
// one (a later result came, the give-up bound passed, or the camera has no
// results); the queue stays within its byte bounds, the oldest frames
// leaving first (counted); results that come before their frame match it
// when it comes, results after it are counted late.
func TestViewPlayback(t *testing.T) {
	t0 := time.Unix(1_795_000_000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	jpeg := make([]byte, 1000)
	msgSize := frameHeaderLen(1) + len(jpeg)
	type step struct {
		at     int   // ms after t0
		frame  int64 // a frame of this seq (-1: none)
		result int64 // a result of this seq (-1: none)
		tick   bool  // the statistics' tick
	}
	type play struct {
		seq, res int64 // res -1: played without a result
		delayMS  int
	}
	fr := func(at int, seq int64) step { return step{at: at, frame: seq, result: -1} }
	re := func(at int, seq int64) step { return step{at: at, frame: -1, result: seq} }
	tick := func(at int) step { return step{at: at, frame: -1, result: -1, tick: true} }
	for _, tc := range []struct {
		name                string
		matchBytes, budget  int64
		steps               []step
		want                []play
		counters            playCounters
		waitingBytes, queue int // after the steps
	}{{
		name:  "no results yet: played at once, without",
		steps: []step{fr(0, 0), fr(100, 1)},
		want:  []play{{0, -1, 0}, {1, -1, 0}}, counters: playCounters{unmatched: 2},
	}, {
		name: "matched: each frame waits for its own result",
		// Result 0 comes for a frame played before results flowed (late).
		steps: []step{fr(0, 0), re(10, 0), fr(100, 1), fr(200, 2), re(1600, 1), re(1700, 2)},
		want:  []play{{0, -1, 0}, {1, 1, 1500}, {2, 2, 1500}}, counters: playCounters{matched: 2, unmatched: 1, late: 1},
	}, {
		name:  "a result of a later frame: the earlier ones are not coming",
		steps: []step{fr(0, 0), re(10, 0), fr(100, 1), fr(200, 2), fr(300, 3), re(1800, 3)},
		want:  []play{{0, -1, 0}, {1, -1, 1700}, {2, -1, 1600}, {3, 3, 1500}}, counters: playCounters{matched: 1, unmatched: 3, late: 1},
	}, {
		name:  "give-up bound",
		steps: []step{fr(0, 0), re(10, 0), fr(100, 1), re(4000, 0), fr(4100, 2), tick(5099), tick(5100), tick(9200)},
		// Frame 1 gives up at 5100 (not at 5099); a result came at 4000, so
		// 2 waits on: at 9200 it has waited 5100 ms, and the camera has had
		// no result for MatchTimeout.
		want:     []play{{0, -1, 0}, {1, -1, 5000}, {2, -1, 5100}},
		counters: playCounters{unmatched: 2, gaveUp: 1, late: 2},
	}, {
		name:  "results stop: after MatchTimeout without any, frames are played at once",
		steps: []step{fr(0, 0), re(10, 0), tick(5011), fr(6000, 1)},
		want:  []play{{0, -1, 0}, {1, -1, 0}}, counters: playCounters{unmatched: 2, late: 1},
	}, {
		name:  "early result: matched when its frame comes",
		steps: []step{fr(0, 0), re(10, 0), re(50, 1), fr(100, 1)},
		want:  []play{{0, -1, 0}, {1, 1, 0}}, counters: playCounters{matched: 1, unmatched: 1, late: 1},
	}, {
		name:       "per-camera bytes: the oldest waiting frames are dropped",
		matchBytes: int64(3 * msgSize),
		steps:      []step{fr(0, 0), re(10, 0), fr(100, 1), fr(200, 2), fr(300, 3), fr(400, 4), fr(500, 5), re(600, 5)},
		want:       []play{{0, -1, 0}, {3, -1, 300}, {4, -1, 200}, {5, 5, 100}},
		counters:   playCounters{matched: 1, unmatched: 3, dropped: 2, late: 1},
	}, {
		name:   "all cameras' bytes: the oldest frame of any camera goes",
		budget: int64(2 * msgSize),
		steps:  []step{fr(0, 0), re(10, 0), fr(100, 1), fr(200, 2), fr(300, 3)},
		want:   []play{{0, -1, 0}}, counters: playCounters{unmatched: 1, dropped: 1, late: 1},
		waitingBytes: 2, queue: 2,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			budget := tc.budget
			if budget == 0 {
				budget = DefaultMaxFrameBytes
			}
			s := newStore(8, time.Minute, time.Minute, 4, budget)
			if tc.matchBytes > 0 {
				s.matchBytes = tc.matchBytes
			}
			var got []play
			s.onPlay = func(p *playedEntry) {
				pl := play{p.f.seq, -1, int(p.delay / time.Millisecond)}
				if p.r != nil {
					pl.res = p.r.seq
				}
				got = append(got, pl)
				d, ok := decodePlayed(append(append([]byte{}, p.msg...), p.f.jpeg...))
				if !ok || d.Seq != p.f.seq || d.DelayMS != pl.delayMS || (d.Result != nil) != (p.r != nil) || len(d.JPEG) != len(jpeg) {
					t.Errorf("played message of %d does not decode: %+v %v", p.f.seq, d, ok)
				}
			}
			for _, st := range tc.steps {
				if st.frame >= 0 {
					s.addFrame(frame.Meta{Camera: "c", Seq: st.frame, CapturedAt: ms(st.at)}, jpeg, ms(st.at))
				}
				if st.result >= 0 {
					r := fakeResult("c", st.result, ms(st.at), 32, 24)
					s.addResult(&r, ms(st.at))
				}
				if st.tick {
					s.snapshot(ms(st.at))
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("played %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("played %v, want %v", got, tc.want)
					break
				}
			}
			sc := s.counters()
			if sc.plays != tc.counters {
				t.Errorf("counters %+v, want %+v", sc.plays, tc.counters)
			}
			c := s.cams["c"]
			if len(c.play.queue) != tc.queue || sc.playBytes != int64(tc.waitingBytes*msgSize) || c.play.bytes != sc.playBytes {
				t.Errorf("%d frames, %d bytes waiting (camera: %d), want %d frames, %d bytes", len(c.play.queue), sc.playBytes, c.play.bytes, tc.queue, tc.waitingBytes*msgSize)
			}
			if f, r, _ := s.pick("c", true); len(got) > 0 && (f.seq != got[len(got)-1].seq || (r != nil) != (got[len(got)-1].res >= 0)) {
				t.Errorf("the annotated stream shows %d (result %v), want the newest played %v", f.seq, r, got[len(got)-1])
			}
		})
	}
}

// TestViewBrowserMatchedPlayback: with a slowed processor (results
// produced 1.5 s after their frames, and none for every tenth frame, as if
// it went to the dead-letter topic), the page in its default mode draws
// every frame with its own result — boxes equal to that result — shows the
// delay on the tile, moves on past the frames without results, and the
// Live toggle switches to the newest frames (and back).
func TestViewBrowserMatchedPlayback(t *testing.T) {
	b := startBroker(t)
	tv := startView(t, b.Addr(), Config{})
	f := newFeeder(t, b.Addr())
	const w, h, fps, latency = 320, 240, 8, 1500 * time.Millisecond
	cameras := []string{camName(0), camName(1)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	type due struct {
		at   time.Time
		r    frame.Result
		part int32
	}
	slow := make(chan due, 1024)
	wg.Go(func() { // the cameras
		defer close(slow)
		imgs := [][]byte{testJPEG(t, w, h, 0), testJPEG(t, w, h, 1)}
		tick := time.NewTicker(time.Second / fps)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for i, c := range cameras {
				seq, at := f.frame(c, int32(i), imgs[i], w, h)
				if seq%10 != 5 {
					slow <- due{at.Add(latency), fakeResult(c, seq, at, w, h), int32(i)}
				}
			}
		}
	})
	wg.Go(func() { // the slow processor: each result 1.5 s after its frame
		for d := range slow {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(d.at)):
			}
			f.result(d.r, d.part)
		}
	})

	bctx := newBrowser(t)
	navigate(t, bctx, tv.url)
	cam := cameras[0]
	var played pageCam
	testkit.Eventually(t, 30*time.Second, "a frame drawn with its own result, 1.5 s behind", func() bool {
		st := state(t, bctx)
		c := st.Cams[cam]
		if st.Mode != modeMatched || !c.Played || !c.Matched || c.DrawnSeq != c.FrameSeq || len(c.Boxes) != 1 || c.DelayMS < 1300 {
			return false
		}
		r, ok := f.lookup(cam, c.FrameSeq)
		if !ok {
			t.Fatalf("frame %d drawn with a result the processor never produced", c.FrameSeq)
		}
		if err := sameBoxes(c.Boxes, r); err != nil {
			t.Fatal(err)
		}
		played = c
		return true
	})
	tile := `document.querySelector('.tile[data-camera="` + cam + `"] `
	testkit.Eventually(t, 10*time.Second, "the delay and the faces on the tile", func() bool {
		delay, err := chromedp.Run(bctx, chromedp.Evaluate[string](tile+`.delay').textContent`))
		if err != nil {
			t.Fatal(err)
		}
		stats, err := chromedp.Run(bctx, chromedp.Evaluate[string](tile+`.stats').textContent`))
		if err != nil {
			t.Fatal(err)
		}
		return strings.HasPrefix(delay, "−1.") && strings.Contains(stats, "1 face")
	})
	// The frames without a result do not hold the playback up.
	testkit.Eventually(t, 20*time.Second, "frames without results played and the playback past them", func() bool {
		st := tv.Stats()
		c := state(t, bctx).Cams[cam]
		return st.PlayedMatched > 10 && st.PlayedUnmatched > 0 && c.FrameSeq > played.FrameSeq+10 && c.Played
	})
	screenshot(t, bctx, "view-matched.png")

	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("mode"))); err != nil {
		t.Fatal(err)
	}
	// Live shows the newest frames, ahead of the delayed playback by
	// about the latency (polled: a loaded browser may lag a frame).
	testkit.Eventually(t, 10*time.Second, "the live mode: the newest frames", func() bool {
		st := state(t, bctx)
		live := st.Cams[cam]
		return st.Mode == modeLive && live.Mode == modeLive && !live.Played && live.FramesShown > 0 &&
			int64(tv.cameras(t)[0].Seq)-live.FrameSeq <= 3
	})
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("mode"))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "back to the delayed, matched mode", func() bool {
		st := state(t, bctx)
		c := st.Cams[cam]
		return st.Mode == modeMatched && c.Played && c.FrameSeq < int64(tv.cameras(t)[0].Seq)-5
	})
}
