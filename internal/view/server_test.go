package view

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

// offline is a server whose readers never run: tests hand it records
// directly (onFrame, onResult), exactly as the readers would.
func offline(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	cfg.Client = []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}
	if cfg.Log == nil {
		cfg.Log = testLogger(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		s.Close()
	})
	return s, ts
}

func frameRecord(camera string, seq int64, img []byte, w, h int) *kgo.Record {
	now := time.Now()
	return &kgo.Record{
		Topic: kafka.DefaultFramesTopic, Key: []byte(camera), Value: img, Timestamp: now,
		Headers: frame.EncodeHeaders(frame.Meta{Seq: seq, CapturedAt: now, Width: w, Height: h}),
	}
}

func resultRecord(t testing.TB, r frame.Result) *kgo.Record {
	v, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: kafka.DefaultResultsTopic, Key: []byte(r.Camera), Value: v}
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") + "/ws" }

func TestViewProtocolFrameRoundTrip(t *testing.T) {
	at := time.UnixMilli(1_795_000_000_123).Add(456 * time.Microsecond)
	msg := encodeFrame("lobby-é", 1<<40+7, at, 640, 480, []byte{0xff, 0xd8, 1, 2})
	f, ok := decodeFrame(msg)
	if !ok || f.Camera != "lobby-é" || f.Seq != 1<<40+7 || f.Width != 640 || f.Height != 480 || !bytes.Equal(f.JPEG, []byte{0xff, 0xd8, 1, 2}) {
		t.Fatalf("decoded %+v ok=%v", f, ok)
	}
	if d := f.CapturedMS - unixMillis(at); d > 0.001 || d < -0.001 {
		t.Errorf("captured %v ms, want %v", f.CapturedMS, unixMillis(at))
	}
	if _, ok := decodeFrame(msg[:10]); ok {
		t.Error("a truncated header decoded")
	}
	common := []byte(`{"t":"s","now":1}`)
	var m map[string]any
	if err := json.Unmarshal(withDropped(common, map[string]int64{"a": 3}), &m); err != nil || m["ws_dropped"].(map[string]any)["a"] != 3.0 {
		t.Errorf("stats with drops: %v %v", m, err)
	}
}

func TestViewCheckListen(t *testing.T) {
	for _, c := range []struct {
		listen   string
		token    string
		insecure bool
		ok       bool
	}{
		{"127.0.0.1:8080", "", false, true},
		{"localhost:8080", "", false, true},
		{"[::1]:8080", "", false, true},
		{"127.0.0.2:0", "", false, true},
		{"0.0.0.0:8080", "", false, false},
		{":8080", "", false, false},
		{"192.168.1.5:8080", "", false, false},
		{"0.0.0.0:8080", "secret", false, true},
		{"0.0.0.0:8080", "", true, true},
		{"no-port", "", false, false},
	} {
		err := CheckListen(c.listen, c.token, c.insecure)
		if (err == nil) != c.ok {
			t.Errorf("CheckListen(%q, token %q, insecure %v) = %v, want ok=%v", c.listen, c.token, c.insecure, err, c.ok)
		}
		if err != nil && strings.Contains(c.listen, ":8080") && !errors.Is(err, ErrNeedsAuth) {
			t.Errorf("CheckListen(%q): %v does not wrap ErrNeedsAuth", c.listen, err)
		}
	}
}

// TestViewAuthToken: with a token, the page, the assets, the WebSocket and
// the streams refuse requests without it and accept it as a Bearer header,
// a ?token= (which sets the cookie for the page) or the cookie; health
// endpoints stay open; the WebSocket refuses foreign origins. Then in
// chromium: the page without the token is a 401, with ?token= it connects.
func TestViewAuthToken(t *testing.T) {
	const token = "s3cret-token"
	s, ts := offline(t, Config{AuthToken: token, AllowOrigins: []string{"dash.example.com"}})
	img := testJPEG(t, 160, 120, 1)
	s.onFrame(frameRecord("cam-1", 0, img, 160, 120))
	base := ts.URL + "/"
	do := func(path string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return resp
	}
	for _, p := range []string{"", "app.js", "style.css", "ws", "stream.mjpeg?camera=cam-1", "snapshot.jpg?camera=cam-1", "api/cameras",
		"?token=wrong", "snapshot.jpg?camera=cam-1&token=wrong"} {
		if r := do(p); r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("GET /%s without the token: %d, want 401 with WWW-Authenticate", p, r.StatusCode)
		}
	}
	if r := do("", "Authorization", "Bearer wrong"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong Bearer token: %d", r.StatusCode)
	}
	if r := do("healthz"); r.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d, want 200 without a token", r.StatusCode)
	}
	if r := do("readyz"); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz of a server not reading Kafka: %d, want 503", r.StatusCode)
	}
	for _, p := range []string{"", "app.js", "snapshot.jpg?camera=cam-1", "api/cameras"} {
		if r := do(p, "Authorization", "Bearer "+token); r.StatusCode != http.StatusOK {
			t.Errorf("GET /%s with the Bearer token: %d", p, r.StatusCode)
		}
	}
	if r := do("snapshot.jpg?camera=cam-1&token=" + token); r.StatusCode != http.StatusOK {
		t.Errorf("snapshot with ?token=: %d", r.StatusCode)
	}
	// ?token= on the page: a cookie, and the token leaves the address bar.
	// SameSite=Lax: a ?token= link clicked on another site is a
	// cross-site navigation, and the page's WebSocket must then carry the
	// cookie (Strict would leave it out of that first page's requests).
	r := do("?token=" + token)
	var cookie *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == cookieName {
			cookie = c
		}
	}
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" || cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("GET /?token=: %d, Location %q, cookie %+v; want 303 to /, an HttpOnly SameSite=Lax cookie", r.StatusCode, r.Header.Get("Location"), cookie)
	}
	if cookie.Value == token || cookie.Value != cookieFor(token) {
		t.Errorf("the cookie holds %q: want the token's derived hash, not the token", cookie.Value)
	}
	if r := do("", "Cookie", cookieName+"="+cookie.Value); r.StatusCode != http.StatusOK {
		t.Errorf("the page with the cookie: %d", r.StatusCode)
	}
	if r := do("", "Cookie", cookieName+"="+token); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the page with the raw token as cookie: %d, want 401 (the cookie holds the hash)", r.StatusCode)
	}

	// The WebSocket.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(hdr http.Header) (int, error) {
		c, resp, err := websocket.Dial(ctx, wsURL(ts.URL), &websocket.DialOptions{HTTPHeader: hdr})
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		if err == nil {
			c.CloseNow()
		}
		return code, err
	}
	if code, err := dial(nil); err == nil || code != http.StatusUnauthorized {
		t.Errorf("WebSocket without the token: status %d, err %v; want 401", code, err)
	}
	if code, err := dial(http.Header{"Authorization": {"Bearer " + token}}); err != nil {
		t.Errorf("WebSocket with the Bearer token: status %d, %v", code, err)
	}
	host := strings.TrimPrefix(ts.URL, "http://")
	if code, err := dial(http.Header{"Cookie": {cookieName + "=" + cookie.Value}, "Origin": {"http://" + host}}); err != nil {
		t.Errorf("WebSocket from the page's own origin with the cookie: status %d, %v", code, err)
	}
	if code, err := dial(http.Header{"Cookie": {cookieName + "=" + cookie.Value}, "Origin": {"http://evil.example"}}); err == nil || code != http.StatusForbidden {
		t.Errorf("WebSocket from a foreign origin: status %d, err %v; want 403", code, err)
	}
	if code, err := dial(http.Header{"Cookie": {cookieName + "=" + cookie.Value}, "Origin": {"https://dash.example.com"}}); err != nil {
		t.Errorf("WebSocket from an --allow-origin origin: status %d, %v", code, err)
	}
	if s.Stats().Unauthorized == 0 {
		t.Error("refused requests not counted")
	}

	// The page in a browser.
	bctx := newBrowser(t)
	navigate(t, bctx, base)
	body, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil || !strings.Contains(body, "401") || !strings.Contains(body, "token") {
		t.Errorf("the page without the token shows %q (%v), want the 401 message", body, err)
	}
	navigate(t, bctx, base+"?token="+token)
	testkit.Eventually(t, 30*time.Second, "the page opened with ?token= to connect and show the camera", func() bool {
		st := state(t, bctx)
		return st.Connected && st.Cams["cam-1"].FramesShown > 0
	})
	loc, err := chromedp.Run(bctx, chromedp.Evaluate[string](`location.href`))
	if err != nil || strings.Contains(loc, "token") {
		t.Errorf("the address bar still holds the token: %q (%v)", loc, err)
	}
}

// TestViewMJPEG reads /stream.mjpeg as VLC would: a multipart stream whose
// every part has a Content-Length and decodes as a JPEG of the frame's size,
// raw and with annotate=1 (boxes drawn on the server: the parts differ from
// the frames); and /snapshot.jpg.
func TestViewMJPEG(t *testing.T) {
	s, ts := offline(t, Config{})
	const w, h = 320, 240
	img := testJPEG(t, w, h, 3)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	s.onFrame(frameRecord("cam-1", 0, img, w, h))
	wg.Go(func() {
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for seq := int64(1); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rec := frameRecord("cam-1", seq, img, w, h)
			s.onFrame(rec)
			s.onResult(resultRecord(t, fakeResult("cam-1", seq, rec.Timestamp, w, h)))
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	for _, annotated := range []bool{false, true} {
		url := ts.URL + "/stream.mjpeg?camera=cam-1"
		if annotated {
			url += "&annotate=1"
		}
		rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if resp.StatusCode != 200 || err != nil || mt != "multipart/x-mixed-replace" || params["boundary"] == "" {
			t.Fatalf("%s: %d, Content-Type %q", url, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		mr := multipart.NewReader(resp.Body, params["boundary"])
		prevSeq, differs := int64(-1), false
		for i := range 6 {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("%s: part %d: %v", url, i, err)
			}
			body, err := io.ReadAll(p)
			if err != nil {
				t.Fatal(err)
			}
			n, err := strconv.Atoi(p.Header.Get("Content-Length"))
			if err != nil || n != len(body) || p.Header.Get("Content-Type") != "image/jpeg" {
				t.Errorf("part %d: Content-Length %q for %d bytes, Content-Type %q", i, p.Header.Get("Content-Length"), len(body), p.Header.Get("Content-Type"))
			}
			im, err := jpeg.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("part %d is not a JPEG: %v", i, err)
			}
			if b := im.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Errorf("part %d: %v, want %dx%d", i, b, w, h)
			}
			seq, _ := strconv.ParseInt(p.Header.Get("X-Framecast-Seq"), 10, 64)
			if seq < prevSeq {
				t.Errorf("part %d: seq %d after %d", i, seq, prevSeq)
			}
			prevSeq = seq
			differs = differs || !bytes.Equal(body, img)
		}
		if annotated != differs {
			t.Errorf("annotate=%v: parts differ from the camera's frames: %v", annotated, differs)
		}
		rcancel()
		resp.Body.Close()
	}
	testkit.Eventually(t, 10*time.Second, "the streams to close", func() bool { return s.Stats().Streams == 0 })

	code, body := getBody(t, ts.URL+"/snapshot.jpg?camera=cam-1")
	if _, err := jpeg.Decode(bytes.NewReader(body)); code != 200 || err != nil {
		t.Errorf("snapshot: %d, %v", code, err)
	}
	if code, _ := getBody(t, ts.URL+"/snapshot.jpg?camera=nope"); code != http.StatusNotFound {
		t.Errorf("snapshot of an unknown camera: %d, want 404", code)
	}
	if code, _ := getBody(t, ts.URL+"/stream.mjpeg"); code != http.StatusBadRequest {
		t.Errorf("stream without ?camera: %d, want 400", code)
	}
}

func getBody(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := noRedirect.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestViewSlowClientBounded: a WebSocket client that never reads while
// 100 MB of frames go by. What the server holds for it stays at most two
// frames per camera (measured as its queued bytes after every frame, not by
// timing), the frames it missed are counted as dropped, the heap does not
// grow with the frames sent, a reading client still gets each camera's
// newest frame, and the silent client is cut off after the write timeout.
func TestViewSlowClientBounded(t *testing.T) {
	const cameras, frameBytes, rounds = 4, 100 << 10, 250
	s, ts := offline(t, Config{WriteTimeout: 3 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	slow, _, err := websocket.Dial(ctx, wsURL(ts.URL), nil) // and never read
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	fast, _, err := websocket.Dial(ctx, wsURL(ts.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.CloseNow()
	fast.SetReadLimit(1 << 20)
	var mu sync.Mutex
	newest := map[string]int64{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			typ, msg, err := fast.Read(ctx)
			if err != nil {
				return
			}
			if typ == websocket.MessageBinary {
				if f, ok := decodeFrame(msg); ok {
					mu.Lock()
					newest[f.Camera] = max(newest[f.Camera], f.Seq)
					mu.Unlock()
				}
			}
		}
	})
	testkit.Eventually(t, 10*time.Second, "two clients", func() bool { return s.Stats().Clients == 2 })

	payload := make([]byte, frameBytes) // not a JPEG: the server does not decode frames that say their size
	rand.Read(payload)
	msgLen := int64(frameHeaderLen(len(camName(0))) + frameBytes)
	bound := 2 * 2 * cameras * msgLen // per client: a slot per camera plus a write in progress

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapAlloc
	var maxQueued, heapMid uint64
	for round := range int64(rounds) {
		for c := range cameras {
			s.onFrame(frameRecord(camName(c), round, payload, 640, 480))
			if q := uint64(s.Stats().QueuedBytes); q > maxQueued {
				maxQueued = q
			}
		}
		if round == rounds/2 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			heapMid = ms.HeapAlloc
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapEnd := ms.HeapAlloc
	sent := int64(rounds * cameras * frameBytes)
	t.Logf("sent %d MB; max queued %d KB (bound %d KB); dropped %d; heap %d → %d → %d MB",
		sent>>20, maxQueued>>10, bound>>10, s.Stats().DroppedFrames, heap0>>20, heapMid>>20, heapEnd>>20)
	if int64(maxQueued) > bound {
		t.Errorf("queued bytes reached %d, above the bound of %d (2 frames per camera and client)", maxQueued, bound)
	}
	// The kernel's socket buffers take a few MB; everything else must
	// have been dropped, not queued.
	if d := s.Stats().DroppedFrames; d < rounds*cameras/2 {
		t.Errorf("%d frames dropped for %d sent to a client that reads nothing", d, rounds*cameras)
	}
	// The ring holds 32 frames a camera; the second half of the run
	// must not add more than noise to the first half's heap.
	ring := uint64(DefaultRingSize * cameras * msgLen)
	if heapEnd > heap0+ring+16<<20 || heapEnd > heapMid+8<<20 {
		t.Errorf("heap grew from %d MB to %d MB (mid-run %d MB) while frames were dropped", heap0>>20, heapEnd>>20, heapMid>>20)
	}
	testkit.Eventually(t, 20*time.Second, "the reading client to get every camera's newest frame", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for c := range cameras {
			if newest[camName(c)] != rounds-1 {
				return false
			}
		}
		return true
	})
	testkit.Eventually(t, 20*time.Second, "the silent client to be cut off after the write timeout", func() bool {
		return s.Stats().Clients == 1
	})
	if q := s.Stats().QueuedBytes; q != 0 {
		t.Errorf("%d bytes still queued after the silent client left and the reader caught up", q)
	}
	fast.CloseNow()
	cancel()
	wg.Wait()
}

// TestViewReadyz: 503 until both topics can be read, then 200; health is
// 200 throughout; and the page's assets are embedded (no internet needed).
func TestViewReadyz(t *testing.T) {
	b := startBroker(t)
	topics := kafka.Topics{Frames: "later.frames", Results: "later.results", DLQ: "later.dlq"}
	s, err := New(Config{Client: []kgo.Opt{kgo.SeedBrokers(b.Addr())}, Topics: topics, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	run := testkit.Go(t, func(ctx context.Context) error { return s.Run(ctx, ln) })
	tv := &testView{Server: s, url: "http://" + ln.Addr().String() + "/"}
	testkit.Eventually(t, 10*time.Second, "/healthz", func() bool { return tv.status(t, "healthz", nil) == 200 })
	if code, body := tv.get(t, "readyz", nil); code != http.StatusServiceUnavailable || !strings.Contains(string(body), "later.frames") {
		t.Errorf("/readyz without the topics: %d %s", code, body)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kafka.EnsureTopics(context.Background(), cl, topics, kafka.TopicSettings{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "/readyz once the topics exist", func() bool { return tv.status(t, "readyz", nil) == 200 })
	for _, p := range []string{"", "app.js", "style.css"} {
		code, body := tv.get(t, p, nil)
		if code != 200 || len(body) < 500 {
			t.Errorf("/%s: %d, %d bytes", p, code, len(body))
		}
		if bytes.Contains(body, []byte("http://")) || bytes.Contains(body, []byte("https://")) {
			t.Errorf("/%s refers to another site: the dashboard must work without internet", p)
		}
	}
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	groups, err := kadm.NewClient(cl).ListGroups(lctx)
	if err != nil || len(groups.Groups()) != 0 {
		t.Errorf("consumer groups %v (%v): the dashboard must not join one", groups.Groups(), err)
	}
	if err := run.Stop(10 * time.Second); err != nil {
		t.Errorf("Run: %v", err)
	}
	if s.Ready() {
		t.Error("still ready after stopping")
	}
}
