package view

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

// TestViewNegativeSeq: a result with "seq":-1, and a frame whose sequence
// number is negative (a headerless record's offset, or a header that
// overflowed), are bad records; they used to index the ring at -1 and
// crash the dashboard.
func TestViewNegativeSeq(t *testing.T) {
	s, _ := offline(t, Config{})
	img := testJPEG(t, 64, 48, 1)
	s.onFrame(frameRecord("cam-1", 0, img, 64, 48))
	r := fakeResult("cam-1", 0, time.Now(), 64, 48)
	r.Seq = -1
	s.onResult(resultRecord(t, r))
	r = fakeResult("cam-new", 0, time.Now(), 64, 48)
	r.Seq = -7
	s.onResult(resultRecord(t, r))
	// A record without framecast headers: DecodeMeta falls back on the
	// offset as the sequence number.
	s.onFrame(&kgo.Record{Key: []byte("cam-2"), Value: img, Offset: -1, Timestamp: time.Now()})
	if st := s.Stats(); st.BadRecords != 3 || st.Cameras != 1 {
		t.Errorf("bad records %d, cameras %d; want 3 and 1 (only cam-1)", st.BadRecords, st.Cameras)
	}
	// The store itself does not index with a negative sequence either.
	if f := s.store.addFrame(frame.Meta{Camera: "cam-1", Seq: -3, CapturedAt: time.Now()}, img, time.Now()); f != nil {
		t.Error("the store kept a frame with a negative sequence number")
	}
	if e := s.store.addResult(&r, time.Now()); e != nil {
		t.Error("the store kept a result with a negative sequence number")
	}
	if f, _, ok := s.store.pick("cam-1", false); !ok || f == nil || f.seq != 0 {
		t.Errorf("cam-1's newest frame: %+v", f)
	}
}

// TestViewRecordPanicRecovered: a record whose handling panics costs that
// record only. The readers run against a broker; the results handler is
// made to panic on one record; the records after it are handled, the
// panic is counted, and the dashboard keeps serving.
func TestViewRecordPanicRecovered(t *testing.T) {
	b := startBroker(t)
	s, err := New(Config{Client: []kgo.Opt{kgo.SeedBrokers(b.Addr())}, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	next := s.results.handle
	s.results.handle = func(rec *kgo.Record) {
		if string(rec.Key) == "boom" {
			var m map[string]int
			m["boom"]++ // a nil map: panics
		}
		next(rec)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	run := testkit.Go(t, func(ctx context.Context) error { return s.Run(ctx, ln) })
	defer func() {
		if err := run.Stop(10 * time.Second); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	tv := &testView{Server: s, url: "http://" + ln.Addr().String() + "/"}
	testkit.Eventually(t, 30*time.Second, "/readyz", func() bool { return tv.status(t, "readyz", nil) == http.StatusOK })

	f := newFeeder(t, b.Addr())
	img := testJPEG(t, 64, 48, 2)
	testkit.Eventually(t, 30*time.Second, "the frames reader to take a frame", func() bool {
		f.frame("cam-1", 0, img, 64, 48)
		return len(s.store.cameraIDs()) == 1
	})
	// The results reader may still be resolving the newest offset: send
	// the record until its panic is counted.
	testkit.Eventually(t, 30*time.Second, "the panic to be recovered and counted", func() bool {
		f.produce(&kgo.Record{Topic: kafka.DefaultResultsTopic, Key: []byte("boom"), Value: []byte(`{}`)})
		return s.Stats().RecordPanics >= 1
	})
	f.result(fakeResult("cam-1", 0, time.Now(), 64, 48), 0)
	testkit.Eventually(t, 30*time.Second, "the result after the panicking record", func() bool {
		cams := tv.cameras(t)
		return len(cams) == 1 && cams[0].Results >= 1
	})
	if code := tv.status(t, "healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz after the panic: %d", code)
	}
}

// TestViewResultCameraValidation: result camera ids follow the frames'
// rule, 1 to 128 bytes of valid UTF-8 (JSON decoding already replaces
// invalid UTF-8); others are bad records.
func TestViewResultCameraValidation(t *testing.T) {
	s, _ := offline(t, Config{})
	for _, id := range []string{strings.Repeat("x", 129), strings.Repeat("é", 65)} {
		s.onResult(resultRecord(t, fakeResult(id, 0, time.Now(), 64, 48)))
	}
	if st := s.Stats(); st.BadRecords != 2 {
		t.Errorf("bad records %d, want 2", st.BadRecords)
	}
	id := strings.Repeat("é", 64) // 128 bytes
	s.onFrame(frameRecord(id, 0, testJPEG(t, 64, 48, 1), 64, 48))
	s.onResult(resultRecord(t, fakeResult(id, 0, time.Now(), 64, 48)))
	if cams := s.store.info(); len(cams) != 1 || cams[0].Results != 1 || s.Stats().BadRecords != 2 {
		t.Errorf("a 128-byte id: %+v, bad records %d", cams, s.Stats().BadRecords)
	}
}

// TestViewStoreBounds: cameras are evicted (idle, or the least recently
// seen at the cap: no lockout), results do not create cameras, the rings
// stay within the byte budget and ringMaxAge, and a busy second's latency
// slices are not kept when the bucket is reused.
func TestViewStoreBounds(t *testing.T) {
	t0 := time.Unix(1_795_000_000, 0)
	payload := make([]byte, 100<<10)
	rand.Read(payload)
	frameAt := func(s *store, id string, seq int64, at time.Time) *frameEntry {
		return s.addFrame(frame.Meta{Camera: id, Seq: seq, CapturedAt: at, Width: 64, Height: 48}, payload, at)
	}

	t.Run("evict", func(t *testing.T) {
		s := newStore(8, 10*time.Second, 10*time.Second, 4, DefaultMaxFrameBytes)
		var evicted []string
		s.onEvict = func(id string) { evicted = append(evicted, id) }
		for i := range 4 {
			frameAt(s, camName(i), 0, t0.Add(time.Duration(i)*time.Second))
		}
		// cam-00 sends again: cam-01 is now the least recently seen.
		frameAt(s, camName(0), 1, t0.Add(4*time.Second))
		if f := frameAt(s, "new", 0, t0.Add(5*time.Second)); f == nil {
			t.Fatal("a new camera at the cap was refused")
		}
		if ids := s.cameraIDs(); len(ids) != 4 || strings.Join(evicted, ",") != camName(1) {
			t.Errorf("cameras %v, evicted %v; want 4, cam-01 evicted", ids, evicted)
		}
		// A result of a camera without frames creates nothing.
		r := fakeResult("results-only", 0, t0, 64, 48)
		if e := s.addResult(&r, t0.Add(5*time.Second)); e != nil || len(s.cameraIDs()) != 4 || s.counters().orphans != 1 {
			t.Errorf("a result of an unknown camera: %v, cameras %v, orphans %d", e, s.cameraIDs(), s.counters().orphans)
		}
		// Cameras idle for longer than the history are forgotten.
		s.snapshot(t0.Add(13500 * time.Millisecond))
		if ids := s.cameraIDs(); strings.Join(ids, ",") != "cam-00,new" {
			t.Errorf("after 10 s idle: cameras %v, want cam-00 and new", ids)
		}
		s.snapshot(t0.Add(time.Minute))
		if ids := s.cameraIDs(); len(ids) != 0 || s.counters().evicted != 5 {
			t.Errorf("after a minute idle: cameras %v, %d evicted", ids, s.counters().evicted)
		}
	})

	t.Run("bytes", func(t *testing.T) {
		// The reviewer's case: 64 junk cameras × 32 frames × 100 KB held
		// 211 MB. With a 4 MiB budget the rings hold at most that.
		const budget = 4 << 20
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap0 := ms.HeapAlloc
		s := newStore(32, time.Minute, time.Minute, 64, budget)
		for seq := range int64(32) {
			for c := range 64 {
				frameAt(s, camName(c), seq, t0)
			}
		}
		sc := s.counters()
		held := 0
		for _, c := range s.cams {
			for _, f := range c.ring {
				if f != nil {
					held += len(f.msg)
				}
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		grew := int64(ms.HeapAlloc) - int64(heap0)
		t.Logf("frame bytes %d KB counted, %d KB in the rings, trimmed %d frames, heap +%d MB", sc.frameBytes>>10, held>>10, sc.trimmed, grew>>20)
		if sc.frameBytes != int64(held) || held > budget || sc.trimmed == 0 {
			t.Errorf("%d bytes counted, %d in the rings, %d trimmed: want them equal and at most the %d budget", sc.frameBytes, held, sc.trimmed, budget)
		}
		// The budget, plus each camera's newest frame (64 × 100 KB), plus
		// noise.
		if limit := int64(budget + 64*len(payload) + 16<<20); grew > limit {
			t.Errorf("the heap grew by %d MB, want at most %d MB", grew>>20, limit>>20)
		}
		if f, _, ok := s.pick(camName(0), false); !ok || f == nil || f.seq != 31 {
			t.Errorf("cam-00's newest frame is gone from pick: %v", f)
		}
		runtime.KeepAlive(s)
	})

	t.Run("age", func(t *testing.T) {
		s := newStore(32, time.Minute, time.Minute, 4, DefaultMaxFrameBytes)
		for seq := range int64(5) {
			frameAt(s, "c", seq, t0.Add(time.Duration(seq)*100*time.Millisecond))
		}
		s.snapshot(t0.Add(ringMaxAge + time.Second))
		if q := s.counters().frameBytes; q != 0 {
			t.Errorf("%d bytes of frames older than %v still queued", q, ringMaxAge)
		}
		for _, f := range s.cams["c"].ring {
			if f != nil {
				t.Errorf("frame %d older than %v still in the ring", f.seq, ringMaxAge)
			}
		}
		if f, _, ok := s.pick("c", false); !ok || f == nil || f.seq != 4 {
			t.Errorf("the newest frame must stay: %v", f)
		}
	})

	t.Run("buckets", func(t *testing.T) {
		s := newStore(8, time.Minute, time.Minute, 4, DefaultMaxFrameBytes)
		frameAt(s, "c", 0, t0)
		c := s.cams["c"]
		b := c.bucket(t0)
		b.lat, b.vlat = make([]float64, 0, 4*maxLatencySamples), make([]float64, 0, 4*maxLatencySamples)
		if b := c.bucket(t0.Add(time.Minute)); cap(b.lat) > maxReusedSamples || cap(b.vlat) > maxReusedSamples {
			t.Errorf("a reused bucket kept capacities %d and %d, want at most %d", cap(b.lat), cap(b.vlat), maxReusedSamples)
		}
	})
}

// TestViewEvictedCameraConnections: a camera evicted at the cap leaves the
// WebSocket clients' per-camera state and ends its MJPEG streams.
func TestViewEvictedCameraConnections(t *testing.T) {
	s, ts := offline(t, Config{MaxCameras: 2})
	img := testJPEG(t, 64, 48, 1)
	c := s.hub.add()
	defer s.hub.remove(c)
	s.onFrame(frameRecord("a", 0, img, 64, 48))
	s.onFrame(frameRecord("a", 1, img, 64, 48)) // replaces the unsent one: counted as dropped for "a"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/stream.mjpeg?camera=a", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	testkit.Eventually(t, 10*time.Second, "the stream to open", func() bool { return s.Stats().Streams == 1 })
	s.onFrame(frameRecord("b", 0, img, 64, 48))
	s.onFrame(frameRecord("c", 0, img, 64, 48)) // evicts "a", the least recently seen
	c.mu.Lock()
	_, slot := c.frames["a"]
	_, drops := c.dropped["a"]
	c.mu.Unlock()
	if slot || drops {
		t.Errorf("the client still holds state of the evicted camera: slot %v, drops %v", slot, drops)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Errorf("reading the stream of an evicted camera: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, "the stream to end", func() bool { return s.Stats().Streams == 0 })
	if ids := s.store.cameraIDs(); strings.Join(ids, ",") != "b,c" || s.Stats().CamerasEvicted != 1 {
		t.Errorf("cameras %v, evicted %d", ids, s.Stats().CamerasEvicted)
	}
}

// TestViewHostCheck: without a token, the dashboard answers only to
// localhost, loopback addresses, its listen address and --allow-host
// names: a page of attacker.example whose DNS points at 127.0.0.1 (DNS
// rebinding) can neither read the snapshot and the cameras nor open the
// WebSocket. Health endpoints answer whatever the Host. With a token,
// every Host is answered (the token protects).
func TestViewHostCheck(t *testing.T) {
	s, ts := offline(t, Config{AllowHosts: []string{"Dash.Example.com:443, proxy.lan."}, Listen: "Dash.LAN:8080", InsecureNoAuth: true})
	s.onFrame(frameRecord("cam-1", 0, testJPEG(t, 64, 48, 1), 64, 48))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
	get := func(host, path string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/"+path, nil)
		req.Host = host
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // not read: a stream would never end
		return resp.StatusCode
	}
	for _, host := range []string{"attacker.example:" + port, "attacker.example", "localhost.attacker.example:" + port, "127.0.0.1.nip.io:" + port, "192.0.2.1:" + port} {
		for _, p := range []string{"", "app.js", "api/cameras", "snapshot.jpg?camera=cam-1", "stream.mjpeg?camera=cam-1", "ws"} {
			if code := get(host, p); code != http.StatusMisdirectedRequest {
				t.Errorf("Host %s: GET /%s: %d, want 421", host, p, code)
			}
		}
		if code := get(host, "healthz"); code != http.StatusOK {
			t.Errorf("Host %s: /healthz %d, want 200", host, code)
		}
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST", "localhost.:" + port, "127.0.0.1:" + port, "127.0.0.2", "[::1]:" + port,
		"dash.example.com:" + port, "proxy.lan", "dash.lan:" + port} {
		if code := get(host, "api/cameras"); code != http.StatusOK {
			t.Errorf("Host %s: /api/cameras %d, want 200", host, code)
		}
	}
	// The WebSocket from the rebinding page: Origin and Host agree, which
	// the WebSocket library's own check accepts.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evil := "attacker.example:" + port
	c, resp, err := websocket.Dial(ctx, wsURL(ts.URL), &websocket.DialOptions{Host: evil, HTTPHeader: http.Header{"Origin": {"http://" + evil}}})
	if err == nil {
		c.CloseNow()
		t.Error("a WebSocket for Host attacker.example was accepted")
	} else if resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("the WebSocket for Host attacker.example: %v, %v; want 421", resp, err)
	}

	// The listener's address counts, and a wildcard listener's addresses
	// and host name.
	s.setHosts(&net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8080})
	if !s.hostAllowed("192.0.2.10:8080") || s.hostAllowed("192.0.2.11:8080") || !s.hostAllowed("proxy.lan") {
		t.Error("the listen address 192.0.2.10 is not answered, or another is")
	}
	s.setHosts(&net.TCPAddr{IP: net.IPv4zero, Port: 8080})
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !s.hostAllowed(net.JoinHostPort(n.IP.String(), "8080")) {
				t.Errorf("listening on 0.0.0.0, the machine's address %s is refused", n.IP)
			}
		}
	}
	if s.hostAllowed("attacker.example") {
		t.Error("listening on 0.0.0.0 answers any name")
	}

	// With a token, the Host does not matter.
	st, tts := offline(t, Config{AuthToken: "tok"})
	st.onFrame(frameRecord("cam-1", 0, testJPEG(t, 64, 48, 1), 64, 48))
	req, _ := http.NewRequest(http.MethodGet, tts.URL+"/api/cameras", nil)
	req.Host = "dash.example.org"
	req.Header.Set("Authorization", "Bearer tok")
	if resp, err := noRedirect.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("with the token, another Host: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	if _, err := HostNames([]string{"*.example.com"}); err == nil {
		t.Error("a wildcard --allow-host was accepted")
	}
}

// TestViewCookieAnyToken: a token with characters a cookie cannot hold
// (space, quote, semicolon, comma, backslash, non-ASCII) still logs the
// browser in: the cookie holds its hash.
func TestViewCookieAnyToken(t *testing.T) {
	const token = `my "tok en"; é,\x`
	_, ts := offline(t, Config{AuthToken: token})
	resp, err := noRedirect.Get(ts.URL + "/?token=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == nil {
		t.Fatalf("GET /?token=: %d, cookie %v", resp.StatusCode, cookie)
	}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
	req.AddCookie(cookie)
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the page with the cookie set for a token with cookie-invalid characters: %d, want 200", resp.StatusCode)
	}
}

// TestViewMJPEGHead: HEAD on the stream answers the headers and ends; the
// connection then serves the next request.
func TestViewMJPEGHead(t *testing.T) {
	s, ts := offline(t, Config{})
	s.onFrame(frameRecord("cam-1", 0, testJPEG(t, 64, 48, 1), 64, 48))
	addr := strings.TrimPrefix(ts.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	fmt.Fprintf(conn, "HEAD /stream.mjpeg?camera=cam-1 HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/x-mixed-replace") {
		t.Errorf("HEAD: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// No stream runs for it, although the connection stays open...
	for range 20 {
		if n := s.Stats().Streams; n != 0 {
			t.Fatalf("%d streams open after HEAD", n)
		}
		time.Sleep(10 * time.Millisecond) // watching a while
	}
	// ... and the handler returned: the same connection answers the next
	// request.
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the request after HEAD: %v", err)
	}
	resp.Body.Close()
}

// TestViewAllowOriginPatterns: the help's own example, *.example.com,
// matches origins with and without a port; comma-separated patterns are
// several; a malformed pattern is an error at New.
func TestViewAllowOriginPatterns(t *testing.T) {
	_, ts := offline(t, Config{AllowOrigins: []string{OriginPatternExample + ", other.test:8443"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := func(origin string) error {
		c, _, err := websocket.Dial(ctx, wsURL(ts.URL), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if err == nil {
			c.CloseNow()
		}
		return err
	}
	for _, o := range []string{"https://dash.example.com", "https://dash.example.com:8443", "http://a.b.example.com:8080", "https://other.test:8443"} {
		if err := dial(o); err != nil {
			t.Errorf("Origin %s: %v", o, err)
		}
	}
	for _, o := range []string{"https://example.com.evil.test", "https://example.com", "https://other.test:9999", "https://evilexample.com:443"} {
		if err := dial(o); err == nil {
			t.Errorf("Origin %s was accepted", o)
		}
	}
	if _, err := New(Config{Client: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}, AllowOrigins: []string{"ok.example.com,[bad"}}); err == nil {
		t.Error("New accepted the malformed origin pattern [bad")
	}
}

// TestViewWriteDeadline: a client that stops reading a snapshot is cut off
// after the write timeout instead of holding its handler.
func TestViewWriteDeadline(t *testing.T) {
	s, ts := offline(t, Config{WriteTimeout: 300 * time.Millisecond})
	big := make([]byte, 16<<20) // the kernel's buffers take a few MB at most
	rand.Read(big)
	s.onFrame(frameRecord("big", 0, big, 640, 480)) // says its size: never decoded
	addr := strings.TrimPrefix(ts.URL, "http://")
	conn := testkit.DialStalled(t, addr, fmt.Sprintf("GET /snapshot.jpg?camera=big HTTP/1.1\r\nHost: %s\r\n\r\n", addr))
	time.Sleep(2 * time.Second) // several write timeouts while the client reads nothing
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection is still open after %d bytes: the server waited for the stalled client", n)
	}
	if n >= int64(len(big)) {
		t.Errorf("the whole snapshot (%d bytes) came after stalling for 2 s, with a 300 ms write timeout", n)
	}
}

// TestViewStopWithStalledViewers: Run stops promptly although a
// WebSocket client and an MJPEG client stopped reading and the server is
// blocked writing to them (it used to wait out Shutdown's 3 s).
func TestViewStopWithStalledViewers(t *testing.T) {
	s, err := New(Config{Client: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	run := testkit.Go(t, func(ctx context.Context) error { return s.Run(ctx, ln) })

	// Frames far larger than the kernel's buffers: the first write to a
	// viewer that reads nothing blocks.
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	s.onFrame(frameRecord("cam-1", 0, payload, 640, 480))
	fctx, fcancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for seq := int64(1); fctx.Err() == nil; seq++ {
			s.onFrame(frameRecord("cam-1", seq, payload, 640, 480))
			time.Sleep(50 * time.Millisecond) // a 20 fps camera
		}
	})
	defer func() {
		fcancel()
		wg.Wait()
	}()
	stream := testkit.DialStalled(t, addr, fmt.Sprintf("GET /stream.mjpeg?camera=cam-1 HTTP/1.1\r\nHost: %s\r\n\r\n", addr))
	testkit.DialStalled(t, addr, fmt.Sprintf("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr))
	// The stream's client has bytes of a frame waiting (the server is in
	// the middle of writing a frame it cannot finish), and the WebSocket's
	// newer frames replace each other while its writer is stuck.
	testkit.Eventually(t, 30*time.Second, "both viewers' writes to block", func() bool {
		st := s.Stats()
		return st.Streams == 1 && testkit.Unread(t, stream) > 4<<10 && st.Clients == 1 && st.DroppedFrames >= 3
	})
	start := time.Now()
	err = run.Stop(15 * time.Second)
	took := time.Since(start)
	t.Logf("Run returned %v after the cancellation", took.Round(time.Millisecond))
	if err != nil {
		t.Errorf("Run: %v", err)
	}
	if took > 1500*time.Millisecond {
		t.Errorf("Run took %v to stop with stalled viewers, want well under Shutdown's 3 s", took)
	}
}

// TestViewBrowserHostileCameraIDs: camera ids and emotions come from
// Kafka: an id that is HTML is shown as text, ids "__proto__" and
// "constructor" are cameras like any other, and a face whose emotion is
// "__proto__" is drawn. The page's CSP allows its WebSocket with
// connect-src 'self' alone.
func TestViewBrowserHostileCameraIDs(t *testing.T) {
	s, ts := offline(t, Config{})
	resp, err := noRedirect.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self';") {
		t.Errorf("CSP %q: want connect-src 'self' only", csp)
	}
	ids := []string{`<img src=x onerror=alert(1)>`, "__proto__", "constructor"}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		img := testJPEG(t, 160, 120, 4)
		for seq := int64(0); ctx.Err() == nil; seq++ {
			for _, id := range ids {
				rec := frameRecord(id, seq, img, 160, 120)
				s.onFrame(rec)
				r := fakeResult(id, seq, rec.Timestamp, 160, 120)
				r.Faces[0].Emotion = "__proto__"
				r.Faces[0].Emotions = map[string]float64{"__proto__": 0.9}
				s.onResult(resultRecord(t, r))
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	bctx := newBrowser(t)
	navigate(t, bctx, ts.URL+"/")
	testkit.Eventually(t, 30*time.Second, "a tile per camera showing frames with boxes", func() bool {
		st := state(t, bctx)
		if !st.Connected || evalInt(t, bctx, `document.querySelectorAll('.tile').length`) != len(ids) {
			return false
		}
		for _, id := range ids {
			if c, ok := st.Cams[id]; !ok || c.FramesShown == 0 || len(c.Boxes) != 1 {
				return false
			}
		}
		return true
	})
	names, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.tile .name')].map(e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for _, n := range names {
		delete(want, n)
	}
	if len(want) != 0 {
		t.Errorf("tile names %q: missing %v", names, want)
	}
	if n := evalInt(t, bctx, `document.querySelectorAll('img').length`); n != 0 {
		t.Errorf("%d <img> elements on the page: a camera id was parsed as HTML", n)
	}
	raw, err := chromedp.Run(bctx, chromedp.Evaluate[json.RawMessage](`Object.getPrototypeOf(window.__framecast.cams) === null && Object.keys(window.__framecast.cams).length`))
	if err != nil || string(raw) != fmt.Sprint(len(ids)) {
		t.Errorf("state.cams: %s (%v), want a prototype-less object with %d cameras", raw, err, len(ids))
	}
}
