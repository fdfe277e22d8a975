package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

// The crash test runs the broker in a child process (this test binary,
// re-executed) so that it can be killed with SIGKILL, as the kernel's OOM
// killer or a power-cut-free `kill -9` would.
const (
	childDirEnv    = "FRAMECAST_KAFKA_TEST_CHILD_DIR"
	childListenEnv = "FRAMECAST_KAFKA_TEST_CHILD_LISTEN"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		runChildBroker(dir, os.Getenv(childListenEnv))
		return
	}
	os.Exit(m.Run())
}

// runChildBroker starts a broker, says "ready" on stdout and runs until it
// is killed.
func runChildBroker(dir, listen string) {
	b, err := Start(context.Background(), Config{Listen: listen, DataDir: dir, Logger: slogStderr()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child broker:", err)
		os.Exit(3)
	}
	fmt.Println("ready", b.Addr())
	select {}
}

// TestBrokerSurvivesSIGKILL kills the broker 20 times during heavy
// produce. Every start after a kill must succeed without --repair, and at
// the end every record the broker acknowledged must read back byte for
// byte.
func TestBrokerSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a broker 20 times")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(8, 20)) //nolint:gosec // test data
	var (
		mu    sync.Mutex
		acked = map[string][32]byte{}
		sent  int
	)
	var childLogs bytes.Buffer
	for round := range 20 {
		cmd, addr, stderr := startChild(t, dir)
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(kafka.DefaultFramesTopic),
			kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.ProducerBatchMaxBytes(1<<20), kgo.RecordDeliveryTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for g := range 4 {
			seed := rng.Uint64()
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, uint64(g))) //nolint:gosec // test data
				for seq := 0; ctx.Err() == nil; seq++ {
					v := make([]byte, 1+r.IntN(16<<10))
					for i := range v {
						v[i] = byte(r.Uint32())
					}
					key := fmt.Sprintf("%d-%d-%d", round, g, seq)
					rec := &kgo.Record{Key: []byte(key), Value: v, Headers: []kgo.RecordHeader{{Key: "k", Value: []byte(key)}}}
					sum := sha256.Sum256(v)
					mu.Lock()
					sent++
					mu.Unlock()
					cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
						if err == nil {
							mu.Lock()
							acked[key] = sum
							mu.Unlock()
						}
					})
					if seq%8 == 7 {
						time.Sleep(time.Millisecond) // let the buffer drain a little
					}
				}
			})
		}
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		cmd.Wait()
		childLogs.Write(stderr.Bytes())
		cancel()
		wg.Wait()
		cl.Close() // fails what is still buffered: never acknowledged
	}
	mu.Lock()
	t.Logf("%d records sent, %d acknowledged over 20 kills; torn tails cut: %d", sent, len(acked),
		strings.Count(childLogs.String(), "torn tail"))
	if len(acked) < 100 {
		t.Fatalf("only %d records acknowledged: the test did not load the broker", len(acked))
	}
	mu.Unlock()

	b := startBroker(t, Config{DataDir: dir})
	ctx := ctxTimeout(t, 60*time.Second)
	adm := newAdmin(t, b.Addr())
	ends, err := adm.ListEndOffsets(ctx, kafka.DefaultFramesTopic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	cl := newClient(t, kafka.Config{Brokers: b.Addr()}, kgo.ConsumeTopics(kafka.DefaultFramesTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	got := map[string][32]byte{}
	var n int64
	for n < total {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("reading back after %d of %d records: %v", n, total, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if len(r.Headers) != 1 || string(r.Headers[0].Value) != string(r.Key) {
				t.Errorf("record %s at %d/%d: headers %v", r.Key, r.Partition, r.Offset, r.Headers)
			}
			got[string(r.Key)] = sha256.Sum256(r.Value)
		})
	}
	missing, differ := 0, 0
	for k, sum := range acked {
		g, ok := got[k]
		switch {
		case !ok:
			missing++
		case g != sum:
			differ++
		}
	}
	if missing > 0 || differ > 0 {
		t.Fatalf("of %d acknowledged records, %d are missing and %d differ", len(acked), missing, differ)
	}
}

// startChild starts the child broker on dir and waits for it to listen.
func startChild(t *testing.T, dir string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childListenEnv+"="+testkit.FreeAddr(t))
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- addr
			}
		}
		close(ready)
	}()
	select {
	case addr, ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("the broker did not start after a kill:\n%s", stderr.String())
		}
		return cmd, addr, stderr
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the broker did not start within 60s:\n%s", stderr.String())
	}
	return nil, "", nil
}

func slogStderr() *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }
