package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Default topic names.
const (
	DefaultFramesTopic  = "framecast.frames"
	DefaultResultsTopic = "framecast.results"
	DefaultDLQTopic     = "framecast.dlq"
	DefaultBrokers      = "127.0.0.1:9092"
)

// Topics names the three topics.
type Topics struct {
	Frames, Results, DLQ string
}

// Config is the client side of a connection: where, and how to
// authenticate. Every networked role embeds it.
type Config struct {
	Brokers  string // comma-separated host:port list
	ClientID string

	TLS                bool
	CAFile             string
	CertFile, KeyFile  string
	InsecureSkipVerify bool

	SASLMechanism string // "", plain, scram-sha-256, scram-sha-512
	SASLUser      string
	SASLPassword  string

	Topics Topics
}

// RegisterFlags adds the connection and topic flags. The environment
// fallbacks (FRAMECAST_BROKERS, FRAMECAST_SASL_PASSWORD, …) come from the
// CLI's generic flag → env mapping.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Brokers, "brokers", DefaultBrokers, "Kafka bootstrap brokers, comma-separated host:port")
	fs.StringVar(&c.Topics.Frames, "frames-topic", DefaultFramesTopic, "topic of the camera frames")
	fs.StringVar(&c.Topics.Results, "results-topic", DefaultResultsTopic, "topic of the analysis results")
	fs.StringVar(&c.Topics.DLQ, "dlq-topic", DefaultDLQTopic, "dead-letter topic for frames that cannot be analysed")
	fs.BoolVar(&c.TLS, "tls", false, "connect with TLS (implied by --tls-ca, --tls-cert)")
	fs.StringVar(&c.CAFile, "tls-ca", "", "PEM file of the CA that signed the brokers' certificates (default: system roots)")
	fs.StringVar(&c.CertFile, "tls-cert", "", "PEM client certificate for mutual TLS")
	fs.StringVar(&c.KeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.BoolVar(&c.InsecureSkipVerify, "tls-insecure-skip-verify", false, "do NOT verify the brokers' certificates (testing only: anyone on the path can read and change the traffic)")
	fs.StringVar(&c.SASLMechanism, "sasl-mechanism", "", "SASL mechanism: plain, scram-sha-256 or scram-sha-512 (empty: no SASL)")
	fs.StringVar(&c.SASLUser, "sasl-user", "", "SASL user name")
	fs.StringVar(&c.SASLPassword, "sasl-password", "", "SASL password (prefer FRAMECAST_SASL_PASSWORD: command lines are visible to other users)")
}

// SeedBrokers splits Brokers.
func (c *Config) SeedBrokers() []string {
	var out []string
	for _, b := range strings.Split(c.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Validate reports every configuration error at once: the connection's
// and the topic names'.
func (c *Config) Validate() error {
	errs := c.connErrors()
	for _, t := range []string{c.Topics.Frames, c.Topics.Results, c.Topics.DLQ} {
		if t == "" {
			errs = append(errs, errors.New("topic names must not be empty"))
			break
		}
	}
	return errors.Join(errs...)
}

// connErrors are the errors of the connection settings: brokers, TLS and
// SASL. Topics play no part in connecting.
func (c *Config) connErrors() []error {
	var errs []error
	if len(c.SeedBrokers()) == 0 {
		errs = append(errs, errors.New("--brokers is empty: give at least one host:port"))
	}
	for _, b := range c.SeedBrokers() {
		if !strings.Contains(b, ":") {
			errs = append(errs, fmt.Errorf("--brokers %q: want host:port", b))
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	switch strings.ToLower(c.SASLMechanism) {
	case "":
		if c.SASLUser != "" || c.SASLPassword != "" {
			errs = append(errs, errors.New("--sasl-user/--sasl-password given without --sasl-mechanism (plain, scram-sha-256 or scram-sha-512)"))
		}
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.SASLUser == "" || c.SASLPassword == "" {
			errs = append(errs, fmt.Errorf("--sasl-mechanism %s needs --sasl-user and --sasl-password (or FRAMECAST_SASL_PASSWORD)", c.SASLMechanism))
		}
	default:
		errs = append(errs, fmt.Errorf("--sasl-mechanism %q: use plain, scram-sha-256 or scram-sha-512", c.SASLMechanism))
	}
	return errs
}

// UsesTLS reports whether the connection is encrypted.
func (c *Config) UsesTLS() bool {
	return c.TLS || c.CAFile != "" || c.CertFile != "" || c.InsecureSkipVerify
}

// TLSConfig builds the client TLS configuration, or nil without TLS.
func (c *Config) TLSConfig() (*tls.Config, error) {
	if !c.UsesTLS() {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // explicit, loudly named flag
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in the file", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// ClientOpts returns the franz-go options every role's client starts from:
// seed brokers, client id, TLS, SASL and, when log is not nil, franz-go's
// own warnings and errors logged to it (NewLogger). Callers add their
// producer or consumer options. It checks the connection settings
// (brokers, TLS, SASL), not the topic names.
func (c *Config) ClientOpts(log *slog.Logger) ([]kgo.Opt, error) {
	if err := errors.Join(c.connErrors()...); err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.SeedBrokers()...)}
	if log != nil {
		opts = append(opts, kgo.WithLogger(NewLogger(log)))
	}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	tc, err := c.TLSConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch strings.ToLower(c.SASLMechanism) {
	case "plain":
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsMechanism()))
	case "scram-sha-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha256Mechanism()))
	case "scram-sha-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha512Mechanism()))
	}
	return opts, nil
}

// String describes the connection for logs, never the password.
func (c *Config) String() string {
	s := "brokers=" + c.Brokers
	if c.UsesTLS() {
		s += " tls=on"
		if c.InsecureSkipVerify {
			s += "(unverified)"
		}
	}
	if c.SASLMechanism != "" {
		s += " sasl=" + strings.ToLower(c.SASLMechanism) + " user=" + c.SASLUser
	}
	return s
}

// ErrSettings marks errors of the connection settings themselves (TLS
// files, SASL), as opposed to the cluster's answers.
var ErrSettings = errors.New("kafka connection settings")

type settingsError struct{ error }

func (e settingsError) Is(target error) bool { return target == ErrSettings }
func (e settingsError) Unwrap() error        { return e.error }

// Connect names the client (clientID unless ClientID is set), builds its
// options (ClientOpts, franz-go's warnings to log) and checks the brokers
// with Check, which explains an unreachable broker, a failed SASL
// handshake or a TLS mismatch that franz-go itself reports only as a
// timeout. Errors of the settings match ErrSettings; an interrupted check
// returns ctx.Err().
func (c *Config) Connect(ctx context.Context, log *slog.Logger, clientID string) ([]kgo.Opt, error) {
	if c.ClientID == "" {
		c.ClientID = clientID
	}
	opts, err := c.ClientOpts(log)
	if err != nil {
		return nil, settingsError{err}
	}
	if err := Check(ctx, *c, DefaultCheckTimeout); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return opts, nil
}
