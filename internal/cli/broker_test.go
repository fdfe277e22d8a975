package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/broker"
	"github.com/framecast/framecast/internal/flagvalue"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

func TestBrokerCommand(t *testing.T) {
	addr, dir := testkit.FreeAddr(t), t.TempDir()
	startCmd := func() (*testkit.Background, *testkit.LockedBuffer) {
		log := &testkit.LockedBuffer{}
		env := &environment{stdout: &bytes.Buffer{}, stderr: log, log: slog.New(slog.NewTextHandler(log, nil))}
		broker := testkit.Go(t, func(ctx context.Context) error {
			return runBroker(ctx, env, []string{"--listen", addr, "--data-dir", dir, "--partitions", "3", "--stats-interval", "50ms"})
		})
		// kfake listens before the topics are created: wait for both,
		// as a client that starts with the broker would retry.
		testkit.Eventually(t, 10*time.Second, "the broker and its topics", func() bool {
			if kafka.Check(context.Background(), kafka.Config{Brokers: addr}, time.Second) != nil {
				return false
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
			if err != nil {
				return false
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			topics, err := kadm.NewClient(cl).ListTopics(ctx, "framecast.dlq")
			return err == nil && topics.Has("framecast.dlq") && len(topics["framecast.dlq"].Partitions) > 0
		})
		return broker, log
	}

	broker, log := startCmd()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"framecast.frames", "framecast.results", "framecast.dlq"} {
		if td, ok := topics[name]; !ok || len(td.Partitions) != 3 {
			t.Errorf("topic %s: %+v, want 3 partitions", name, td)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "framecast.results", Value: []byte(`{"schema":"framecast.result.v1"}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the stats line", func() bool { return strings.Contains(log.String(), "broker holds") })
	cl.Close()

	start := time.Now()
	if err := broker.Stop(5 * time.Second); err != nil {
		t.Fatalf("runBroker returned %v after cancel, want nil", err)
	}
	t.Logf("shutdown took %s", time.Since(start))
	out := log.String()
	for _, want := range []string{"development", "Apache Kafka in KRaft mode", "embedded Kafka broker stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}

	// Started again on the same directory: the record is still there.
	startCmd()
	offs, err := kadm.NewClient(mustClient(t, addr)).ListEndOffsets(ctx, "framecast.results")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	offs.Each(func(o kadm.ListedOffset) { n += o.Offset })
	if n != 1 {
		t.Fatalf("%d records after restart, want 1", n)
	}
}

func mustClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestBrokerHelpSaysDevelopmentOnly(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "broker", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"development, CI and demos only", "Apache Kafka in KRaft mode", "--data-dir", "--server-tls-cert"} {
		if !strings.Contains(stderr, strings.TrimPrefix(want, "-")) {
			t.Errorf("help lacks %q:\n%s", want, stderr)
		}
	}
}

func TestBrokerUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "0.0.0.0:19092"}, "0.0.0.0"},
		{[]string{"--sasl-user", "u"}, "without --sasl-mechanism"},
		{[]string{"--sasl-mechanism", "scram-sha-256", "--sasl-user", "u"}, "needs --sasl-user and --sasl-password"},
		{[]string{"--sasl-mechanism", "gssapi", "--sasl-user", "u", "--sasl-password", "p"}, "SASL mechanism"},
		{[]string{"--server-tls-cert", "c.pem"}, "go together"},
		{[]string{"--frames-retention-bytes", "12XB"}, "want a positive size"},
		{[]string{"--partitions", "0", "--listen", "127.0.0.1"}, "want host:port"},
		{[]string{"--partitions", "0"}, "--partitions 0"},
		{[]string{"--frames-retention", "0s"}, "must be positive"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, append([]string{"broker", "--data-dir", dir}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q: want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestBrokerBytesFlag(t *testing.T) {
	for in, want := range map[string]int64{
		"1048576": 1 << 20, "8MiB": 8 << 20, "8mib": 8 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30,
		"1g": 1 << 30, "16M": 16 << 20, "2MB": 2e6, "1 GiB": 1 << 30,
	} {
		var b flagvalue.Size
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1MiB", "1.5GiB", "MiB", "9999999999GiB"} {
		var b flagvalue.Size
		if err := b.Set(bad); err == nil {
			t.Errorf("%q accepted as %d", bad, b)
		}
	}
	for v, want := range map[flagvalue.Size]string{8 << 20: "8MiB", 1 << 30: "1GiB", 1500: "1500", 3 << 10: "3KiB"} {
		if got := v.String(); got != want {
			t.Errorf("%d: %q, want %q", v, got, want)
		}
	}
}

// TestBrokerCommandDataDirGuards: a second `framecast broker` on a
// directory in use stops at once naming the holder; a damaged directory
// is refused with the way out, and --repair takes it.
func TestBrokerCommandDataDirGuards(t *testing.T) {
	dir := t.TempDir()
	first, err := broker.Start(context.Background(), broker.Config{Listen: testkit.FreeAddr(t), DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, nil, "broker", "--listen", testkit.FreeAddr(t), "--data-dir", dir)
	if code != 1 || !strings.Contains(stderr, dir) || !strings.Contains(stderr, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("second broker: exit %d, stderr %q; want 1 naming the directory and the holder", code, stderr)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// A flipped bit in a segment of framecast.frames-0.
	seg := filepath.Join(dir, "partitions", "framecast.frames-0", "0.dat")
	b := broker.Config{Listen: testkit.FreeAddr(t), DataDir: dir}
	br, err := broker.Start(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 3 {
		rec := &kgo.Record{Topic: "framecast.frames", Partition: 0, Value: bytes.Repeat([]byte("frame"), 100)}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	br.Close()
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-10] ^= 1
	if err := os.WriteFile(seg, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, nil, "broker", "--listen", testkit.FreeAddr(t), "--data-dir", dir)
	if code != 1 || !strings.Contains(stderr, "framecast.frames-0") || !strings.Contains(stderr, "--repair") {
		t.Errorf("damaged directory: exit %d, stderr %q; want 1 naming the partition and --repair", code, stderr)
	}
	log := &testkit.LockedBuffer{}
	env := &environment{stdout: &bytes.Buffer{}, stderr: log, log: slog.New(slog.NewTextHandler(log, nil))}
	listen := testkit.FreeAddr(t)
	repair := testkit.Go(t, func(ctx context.Context) error {
		return runBroker(ctx, env, []string{"--listen", listen, "--data-dir", dir, "--repair"})
	})
	testkit.Eventually(t, 10*time.Second, "the repaired broker to listen", func() bool { return strings.Contains(log.String(), "listening") })
	if err := repair.Stop(time.Minute); err != nil {
		t.Fatalf("broker --repair: %v\n%s", err, log.String())
	}
	if out := log.String(); !strings.Contains(out, "repaired a damaged partition") || !strings.Contains(out, "removed_records=1") {
		t.Errorf("--repair log lacks the removed record:\n%s", out)
	}
}
