package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

const (
	alicePw = "alice-s3cret-pw"
	bobPw   = "bob-0ther-s3cret"
)

// securedBroker runs a TLS-only broker that requires SCRAM: alice with
// SHA-256, bob with SHA-512. It returns the broker and the CA file.
func securedBroker(t *testing.T) (*Broker, string) {
	t.Helper()
	cert, caFile := selfSigned(t, t.TempDir())
	b := startBroker(t, Config{
		TLS: tlsServer(cert),
		SASL: []SASLUser{
			{Mechanism: "scram-sha-256", User: "alice", Password: alicePw},
			{Mechanism: "SCRAM-SHA-512", User: "bob", Password: bobPw},
		},
	})
	return b, caFile
}

// TestCertFilesAndStats: a listener made TLS-only from PEM files, and the
// periodic line of what the topics hold.
func TestCertFilesAndStats(t *testing.T) {
	dir := t.TempDir()
	_, caFile := selfSigned(t, dir)
	var logs testkit.LockedBuffer
	b := startBroker(t, Config{
		CertFile: caFile, KeyFile: filepath.Join(dir, "key.pem"),
		StatsInterval: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err := kafka.Check(context.Background(), kafka.Config{Brokers: b.Addr(), CAFile: caFile}, 5*time.Second); err != nil {
		t.Fatalf("kafka.Check over TLS: %v", err)
	}
	testkit.Eventually(t, 5*time.Second, "a stats line", func() bool {
		return strings.Contains(logs.String(), "msg=\"broker holds\" "+kafka.DefaultFramesTopic+".records=0")
	})
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{DataDir: dir, CertFile: caFile}, "--server-tls-cert and --server-tls-key go together"},
		{Config{DataDir: dir, CertFile: caFile, KeyFile: caFile}, "--server-tls-cert/--server-tls-key: "},
		{Config{DataDir: dir, CertFile: caFile, KeyFile: caFile, TLS: tlsServer(tls.Certificate{})}, "not both"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error about %s", tc.cfg, err, tc.want)
		}
	}
}

func TestTLSAndSCRAM(t *testing.T) {
	b, caFile := securedBroker(t)
	addr := b.Addr()
	good := map[string]kafka.Config{
		"scram-sha-256": {Brokers: addr, CAFile: caFile, SASLMechanism: "scram-sha-256", SASLUser: "alice", SASLPassword: alicePw},
		"scram-sha-512": {Brokers: addr, CAFile: caFile, SASLMechanism: "scram-sha-512", SASLUser: "bob", SASLPassword: bobPw},
	}
	for name, cfg := range good {
		t.Run("produce with "+name, func(t *testing.T) {
			if err := kafka.Check(context.Background(), cfg, 5*time.Second); err != nil {
				t.Fatalf("kafka.Check: %v", err)
			}
			cl := newClient(t, cfg)
			ctx := ctxTimeout(t, 10*time.Second)
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kafka.DefaultFramesTopic, Value: []byte("jpeg")}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		})
	}

	cases := []struct {
		name     string
		cfg      kafka.Config
		kind     error
		contains []string
	}{
		{
			name:     "wrong password",
			cfg:      kafka.Config{Brokers: addr, CAFile: caFile, SASLMechanism: "scram-sha-256", SASLUser: "alice", SASLPassword: "wrong-" + alicePw},
			kind:     kafka.ErrAuth,
			contains: []string{addr, `"alice"`, "password is wrong"},
		},
		{
			name:     "password of another mechanism",
			cfg:      kafka.Config{Brokers: addr, CAFile: caFile, SASLMechanism: "scram-sha-512", SASLUser: "alice", SASLPassword: alicePw},
			kind:     kafka.ErrAuth,
			contains: []string{addr, "SCRAM-SHA-512"},
		},
		{
			name:     "no SASL",
			cfg:      kafka.Config{Brokers: addr, CAFile: caFile},
			kind:     kafka.ErrAuth,
			contains: []string{addr, "requires SASL"},
		},
		{
			name:     "plaintext client",
			cfg:      kafka.Config{Brokers: addr, SASLMechanism: "scram-sha-256", SASLUser: "alice", SASLPassword: alicePw},
			kind:     kafka.ErrTLS,
			contains: []string{addr, "requires TLS"},
		},
		{
			name:     "untrusted certificate",
			cfg:      kafka.Config{Brokers: addr, TLS: true, SASLMechanism: "scram-sha-256", SASLUser: "alice", SASLPassword: alicePw},
			kind:     kafka.ErrTLS,
			contains: []string{addr, "--tls-ca"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := kafka.Check(context.Background(), tc.cfg, 10*time.Second)
			took := time.Since(start)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want %v", err, tc.kind)
			}
			if took > 3*time.Second {
				t.Errorf("took %s: want a diagnosis within a few seconds, not a timeout", took)
			}
			msg := err.Error()
			for _, s := range tc.contains {
				if !strings.Contains(msg, s) {
					t.Errorf("message lacks %q: %s", s, msg)
				}
			}
			for _, pw := range []string{alicePw, bobPw} {
				if strings.Contains(msg, pw) {
					t.Errorf("message contains a password: %s", msg)
				}
			}
			t.Logf("%s: %s", took.Round(time.Millisecond), msg)
		})
	}
}

// What franz-go alone reports for a wrong password against kfake: the
// broker closes the connection, kgo treats that as retryable and the
// caller sees no authentication error. This documents why kafka.Check probes.
func TestFranzGoAloneOnWrongPassword(t *testing.T) {
	b, caFile := securedBroker(t)
	cl := newClient(t, kafka.Config{Brokers: b.Addr(), CAFile: caFile, SASLMechanism: "scram-sha-256", SASLUser: "alice", SASLPassword: "nope"})
	ctx := ctxTimeout(t, 3*time.Second)
	start := time.Now()
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: kafka.DefaultFramesTopic, Value: []byte("x")}).FirstErr()
	if err == nil {
		t.Fatal("produced with a wrong password")
	}
	if errors.Is(err, kafka.ErrAuth) {
		t.Fatal("unexpected: kgo reported an authentication error itself")
	}
	t.Logf("kgo after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

func TestCheckPlaintextBroker(t *testing.T) {
	b := startBroker(t, Config{})
	if err := kafka.Check(context.Background(), kafka.Config{Brokers: b.Addr()}, 5*time.Second); err != nil {
		t.Fatalf("kafka.Check: %v", err)
	}
	// TLS against a plaintext listener: the broker's size guard hangs up
	// on the ClientHello (read as a 369 MB request) at once.
	start := time.Now()
	err := kafka.Check(context.Background(), kafka.Config{Brokers: b.Addr(), TLS: true}, 10*time.Second)
	if !errors.Is(err, kafka.ErrTLS) || !strings.Contains(err.Error(), "plaintext") {
		t.Fatalf("got %v, want kafka.ErrTLS saying the listener is plaintext", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s: want an immediate diagnosis", took)
	}
	t.Logf("%s: %v", time.Since(start).Round(time.Millisecond), err)
	// franz-go alone now fails fast too, with its own TLS hint.
	cl := newClient(t, kafka.Config{Brokers: b.Addr(), TLS: true})
	ctx := ctxTimeout(t, 10*time.Second)
	start = time.Now()
	err = cl.Ping(ctx)
	t.Logf("kgo TLS client against the plaintext broker after %s: %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil {
		t.Fatal("kgo connected with TLS to a plaintext listener")
	}
	// SASL against a broker without it.
	err = kafka.Check(context.Background(), kafka.Config{Brokers: b.Addr(), SASLMechanism: "plain", SASLUser: "u", SASLPassword: "secret-pw"}, 3*time.Second)
	if !errors.Is(err, kafka.ErrAuth) || strings.Contains(err.Error(), "secret-pw") {
		t.Fatalf("got %v, want kafka.ErrAuth without the password", err)
	}
}

func TestSASLUsersComeFromTheConfigOnEveryStart(t *testing.T) {
	dir := t.TempDir()
	addr := testkit.FreeAddr(t)
	start := func(pw string) *Broker {
		b, err := Start(context.Background(), Config{Listen: addr, DataDir: dir, Logger: testLogger(t),
			SASL: []SASLUser{{Mechanism: "SCRAM-SHA-256", User: "cam", Password: pw}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cfg := func(pw string) kafka.Config {
		return kafka.Config{Brokers: addr, SASLMechanism: "scram-sha-256", SASLUser: "cam", SASLPassword: pw}
	}
	b := start("old-password")
	if err := kafka.Check(context.Background(), cfg("old-password"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = start("new-password")
	defer b.Close()
	if err := kafka.Check(context.Background(), cfg("new-password"), 5*time.Second); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := kafka.Check(context.Background(), cfg("old-password"), 5*time.Second); !errors.Is(err, kafka.ErrAuth) {
		t.Fatalf("old password after restart: got %v, want kafka.ErrAuth", err)
	}
}
