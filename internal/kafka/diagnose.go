package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Sentinel errors of Check, for errors.Is.
var (
	// ErrUnreachable: no connection to the broker (nothing listening,
	// unknown host, packets dropped, or an advertised address that this
	// machine cannot reach).
	ErrUnreachable = errors.New("kafka broker unreachable")
	// ErrAuth: SASL authentication failed or is missing.
	ErrAuth = errors.New("kafka authentication failed")
	// ErrTLS: the TLS handshake failed, or one side uses TLS and the other
	// does not.
	ErrTLS = errors.New("kafka TLS failure")
)

// ExplainConnect turns the failure of a client of c to start into what
// to do next. CheckTopics' errors (TopicError) say it already, but an
// unreachable broker may also be a SASL or TLS mismatch, which they
// cannot tell; other errors get the brokers' address.
func (c *Config) ExplainConnect(err error) error {
	var te *TopicError
	if !errors.As(err, &te) {
		return fmt.Errorf("Kafka at %s: %w", c.Brokers, err)
	}
	if errors.Is(err, ErrUnreachable) {
		if c.SASLMechanism != "" {
			err = fmt.Errorf("%w; with SASL, a wrong user or password also looks like this", err)
		}
		if c.UsesTLS() {
			err = fmt.Errorf("%w; check that the address is a TLS listener", err)
		}
	}
	return err
}

// DefaultCheckTimeout is Check's budget when given none.
const DefaultCheckTimeout = 10 * time.Second

// CheckError is what Check returns: the broker address, the kind of
// failure (ErrUnreachable, ErrAuth, ErrTLS, or nil when unclassified), an
// explanation that says what to do, and the underlying error. errors.Is
// matches both the kind and the cause (syscall.ECONNREFUSED,
// kerr.SaslAuthenticationFailed, …).
type CheckError struct {
	Addr    string
	Kind    error
	Explain string
	Err     error
}

func (e *CheckError) Error() string {
	s := "kafka broker " + e.Addr + ": " + e.Explain
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

// Unwrap returns the kind and the cause.
func (e *CheckError) Unwrap() []error { return []error{e.Kind, e.Err} }

// Check connects to the brokers of cfg and fetches cluster metadata within
// timeout (DefaultCheckTimeout if ≤ 0). On failure it returns a
// *CheckError naming the address and the likely cause, matching
// ErrUnreachable, ErrAuth or ErrTLS. Passwords never appear in it.
//
// Why not just ask franz-go: a kgo client treats a broker that closes the
// connection as retryable (io.EOF), and that is how kfake answers a wrong
// password or a missing SASL handshake, and how any broker answers a
// plaintext client on a TLS listener. The client then retries until its
// context expires and reports only "context deadline exceeded" (or, after
// its retries, an ErrFirstReadEOF guess). Only a broker that answers
// SaslAuthenticate with SASL_AUTHENTICATION_FAILED (Apache Kafka does)
// yields a non-retryable kerr error at once. So Check first speaks the
// protocol itself on one connection per seed — dial, TLS handshake,
// ApiVersions, SaslHandshake, SaslAuthenticate, Metadata — and knows at
// which step the broker hung up; it then confirms with a real kgo client
// and dials every advertised broker, which catches a wrong
// advertised.listeners (seed answers, produce goes nowhere).
func Check(ctx context.Context, cfg Config, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return redact(check(ctx, cfg, timeout), cfg.SASLPassword)
}

func check(ctx context.Context, cfg Config, timeout time.Duration) error {
	opts, err := cfg.ClientOpts(nil) // the probe says what went wrong; franz-go's lines would repeat it
	if err != nil {
		return err
	}
	opts = append(opts, kgo.DialTimeout(timeout), kgo.RequestRetries(2))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	tc, _ := cl.OptValue(kgo.DialTLSConfig).(*tls.Config)
	var mech sasl.Mechanism
	if ms, _ := cl.OptValue(kgo.SASL).([]sasl.Mechanism); len(ms) > 0 {
		mech = ms[0]
	}
	// A silent peer (a TLS client against a bare kfake, which waits for
	// the 369 MB "request" its ClientHello announces) should not eat the
	// whole budget before the diagnosis.
	p := prober{tls: tc, mech: mech, user: cfg.SASLUser, step: max(timeout/3, 3*time.Second)}

	// One good seed is enough, as for a client; report all when none is.
	var errs []error
	ok := false
	for _, addr := range cfg.SeedBrokers() {
		if err := p.probe(ctx, addr); err != nil {
			errs = append(errs, err)
			continue
		}
		ok = true
		break
	}
	if !ok {
		if context.Cause(ctx) == context.Canceled {
			return context.Canceled // the caller gave up: nothing to diagnose
		}
		return errors.Join(errs...)
	}

	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return classifyClientErr(cfg.Brokers, err, cfg)
	}
	for _, b := range md.Brokers {
		addr := net.JoinHostPort(b.Host, fmt.Sprint(b.Port))
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return &CheckError{Addr: cfg.Brokers, Kind: ErrUnreachable, Err: err, Explain: fmt.Sprintf(
				"the seed answers, but it advertises broker %d at %s, which this machine cannot reach: "+
					"fix the broker's advertised.listeners (e.g. a container name or a 127.0.0.1 address seen from another host)", b.NodeID, addr)}
		}
		conn.Close()
	}
	return nil
}

// classifyClientErr explains an error from the kgo client after the
// probe passed (e.g. a different broker, or an authorisation failure).
func classifyClientErr(addr string, err error, cfg Config) error {
	ce := &CheckError{Addr: addr, Err: err, Explain: "fetching metadata failed"}
	var fe *kgo.ErrFirstReadEOF
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		ce.Kind, ce.Explain = ErrAuth, fmt.Sprintf("the broker rejected SASL authentication as user %q: check the password and --sasl-mechanism", cfg.SASLUser)
	case errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		ce.Kind, ce.Explain = ErrAuth, "the broker does not accept this SASL mechanism here: check --sasl-mechanism"
	case errors.As(err, &fe):
		ce.Kind, ce.Explain = ErrTLS, "the broker closed the connection at once: TLS or SASL settings likely differ from the broker's"
	case errors.Is(err, context.DeadlineExceeded):
		ce.Kind, ce.Explain = ErrUnreachable, "no metadata before the timeout"
	}
	return ce
}

// prober speaks the first steps of the Kafka protocol on a connection of
// its own, to tell where a connection fails.
type prober struct {
	tls  *tls.Config
	mech sasl.Mechanism
	user string
	step time.Duration // deadline of each network step
}

// probeConn is one connection with its negotiated API versions.
type probeConn struct {
	net.Conn
	addr     string
	step     func() time.Time // the deadline of the next step
	corr     int32
	versions map[int16]int16 // api key → max version the broker accepts
	fmt      *kmsg.RequestFormatter
}

func (p prober) probe(ctx context.Context, addr string) error {
	fail := func(kind error, err error, format string, a ...any) error {
		return &CheckError{Addr: addr, Kind: kind, Err: err, Explain: fmt.Sprintf(format, a...)}
	}
	deadline, ok := ctx.Deadline()
	step := func() time.Time {
		if d := time.Now().Add(p.step); !ok || d.Before(deadline) {
			return d
		}
		return deadline
	}

	d := net.Dialer{Deadline: step()}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return explainDial(addr, err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(step())
	conn := raw
	if p.tls != nil {
		tc := p.tls.Clone()
		if tc.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			tc.ServerName = host
		}
		tlsConn := tls.Client(raw, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return explainTLS(addr, err)
		}
		conn = tlsConn
	}
	c := &probeConn{Conn: conn, addr: addr, step: step, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("framecast-check"))}

	// ApiVersions v0: every broker since 0.10 answers it, Kafka 4 too.
	av := kmsg.NewPtrApiVersionsRequest()
	avResp := av.ResponseKind().(*kmsg.ApiVersionsResponse)
	if err := c.roundTrip(av, avResp); err != nil {
		switch {
		case p.tls == nil && (isClosed(err) || isTimeout(err)):
			return fail(ErrTLS, err, "the broker closed the connection (or stayed silent) on the first Kafka request: "+
				"the listener likely requires TLS (add --tls, and --tls-ca if its CA is private), or this is not a Kafka port")
		case isClosed(err) || isTimeout(err):
			return fail(nil, err, "TLS works but the broker does not answer Kafka requests: is this a Kafka port?")
		}
		return fail(nil, err, "the first Kafka request failed")
	}
	if err := kerr.ErrorForCode(avResp.ErrorCode); err != nil {
		return fail(nil, err, "the broker refused ApiVersions")
	}
	c.versions = make(map[int16]int16, len(avResp.ApiKeys))
	for _, k := range avResp.ApiKeys {
		c.versions[k.ApiKey] = k.MaxVersion
	}

	if p.mech != nil {
		if err := p.authenticate(ctx, c); err != nil {
			return err
		}
	}

	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{} // no topics: just the brokers
	if err := c.setVersion(md); err != nil {
		return fail(nil, err, "cannot ask for metadata")
	}
	mdResp := md.ResponseKind().(*kmsg.MetadataResponse)
	if err := c.roundTrip(md, mdResp); err != nil {
		if p.mech == nil && (isClosed(err) || isTimeout(err)) {
			return fail(ErrAuth, err, "the broker answered ApiVersions but closed the connection on a metadata request: "+
				"it likely requires SASL authentication (set --sasl-mechanism, --sasl-user and FRAMECAST_SASL_PASSWORD)")
		}
		return fail(nil, err, "the metadata request failed")
	}
	return nil
}

// authenticate runs SaslHandshake and SaslAuthenticate (KIP-152) like
// franz-go does, so that a wrong password shows as what it is.
func (p prober) authenticate(ctx context.Context, c *probeConn) error {
	name := p.mech.Name()
	fail := func(err error, format string, a ...any) error {
		return &CheckError{Addr: c.addr, Kind: ErrAuth, Err: err, Explain: fmt.Sprintf(format, a...)}
	}
	rejected := func(err error) error {
		return fail(err, "the broker rejected SASL %s authentication as user %q: the password is wrong, the user does not exist, "+
			"or the broker does not accept SASL on this listener (check --sasl-user, FRAMECAST_SASL_PASSWORD, --sasl-mechanism)", name, p.user)
	}

	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = name
	if v, ok := c.versions[hs.Key()]; !ok || v < 1 {
		return fail(nil, "the broker offers no SASL handshake (v1) on this listener: drop --sasl-mechanism, or use its SASL listener")
	}
	hs.Version = 1
	hsResp := hs.ResponseKind().(*kmsg.SASLHandshakeResponse)
	if err := c.roundTrip(hs, hsResp); err != nil {
		if isClosed(err) {
			return fail(err, "the broker closed the connection on the SASL handshake: this listener likely has no SASL")
		}
		return fail(err, "SASL handshake failed")
	}
	if err := kerr.ErrorForCode(hsResp.ErrorCode); err != nil {
		if errors.Is(err, kerr.UnsupportedSaslMechanism) {
			return fail(err, "the broker does not offer %s here; it offers %s: set --sasl-mechanism to one of them",
				name, strings.Join(hsResp.SupportedMechanisms, ", "))
		}
		return fail(err, "the broker refused the SASL handshake for %s: this listener likely has no SASL", name)
	}

	session, clientWrite, err := p.mech.Authenticate(ctx, c.addr)
	if err != nil {
		return fail(err, "starting SASL %s", name)
	}
	for done := false; !done || len(clientWrite) > 0; {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SASLAuthBytes = clientWrite
		if err := c.setVersion(req); err != nil {
			return fail(err, "SASL authenticate")
		}
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		if err := c.roundTrip(req, resp); err != nil {
			if isClosed(err) {
				// kfake (and some proxies) answer bad credentials
				// by closing the connection.
				return rejected(err)
			}
			return fail(err, "SASL authentication as user %q timed out or failed", p.user)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if resp.ErrorMessage != nil && *resp.ErrorMessage != "" {
				err = fmt.Errorf("%w: %s", err, *resp.ErrorMessage)
			}
			return rejected(err)
		}
		clientWrite = nil
		if !done {
			if done, clientWrite, err = session.Challenge(resp.SASLAuthBytes); err != nil {
				// e.g. a SCRAM server signature that does not
				// match: the server does not know this password.
				return rejected(err)
			}
		}
	}
	return nil
}

// setVersion picks the highest version both sides support.
func (c *probeConn) setVersion(r kmsg.Request) error {
	v, ok := c.versions[r.Key()]
	if !ok {
		return fmt.Errorf("the broker does not support %s", kmsg.NameForKey(r.Key()))
	}
	r.SetVersion(min(v, r.MaxVersion()))
	return nil
}

// roundTrip writes req and reads its response into resp.
func (c *probeConn) roundTrip(req kmsg.Request, resp kmsg.Response) error {
	c.corr++
	_ = c.SetDeadline(c.step())
	if _, err := c.Write(c.fmt.AppendRequest(nil, req, c.corr)); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 64<<20 {
		return fmt.Errorf("response size %d: not a Kafka response", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		return err
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != c.corr { //nolint:gosec // wire format
		return fmt.Errorf("correlation id %d, want %d: not a Kafka response", corr, c.corr)
	}
	body = body[4:]
	resp.SetVersion(req.GetVersion())
	// Flexible responses carry a tag section in their header, except
	// ApiVersions (KIP-511).
	if resp.IsFlexible() && req.Key() != 18 {
		var err error
		if body, err = skipTags(body); err != nil {
			return err
		}
	}
	return resp.ReadFrom(body)
}

func skipTags(b []byte) ([]byte, error) {
	bad := errors.New("malformed tagged fields in a response header")
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, bad
	}
	b = b[k:]
	for ; n > 0; n-- {
		if _, k = binary.Uvarint(b); k <= 0 {
			return nil, bad
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < size {
			return nil, bad
		}
		b = b[k+int(size):] //nolint:gosec // bounded above
	}
	return b, nil
}

func explainDial(addr string, err error) error {
	ce := &CheckError{Addr: addr, Kind: ErrUnreachable, Err: err}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		ce.Explain = fmt.Sprintf("cannot resolve host %q: check the host name in --brokers (FRAMECAST_BROKERS)", dnsErr.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		ce.Explain = "connection refused, nothing is listening there: is the broker running? " +
			"Start one with `framecast broker`, or fix --brokers (FRAMECAST_BROKERS)"
	case isTimeout(err):
		ce.Explain = "no answer to the connection attempt before the timeout: a firewall drops the packets, or the host or port is wrong"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		ce.Explain = "no route to the host: check the address and the network"
	default:
		ce.Explain = "cannot connect"
	}
	return ce
}

func explainTLS(addr string, err error) error {
	ce := &CheckError{Addr: addr, Kind: ErrTLS, Err: err}
	var (
		unknownCA *x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		verifyErr *tls.CertificateVerificationError
		recErr    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &verifyErr):
		ce.Explain = "the broker's TLS certificate is not trusted: pass the CA that signed it with --tls-ca " +
			"(or, for testing only, --tls-insecure-skip-verify)"
	case errors.As(err, &recErr):
		ce.Explain = "the broker answered the TLS handshake with plaintext: this listener does not use TLS, drop --tls/--tls-ca or use its TLS port"
	case isClosed(err), isTimeout(err):
		// A plaintext Kafka reads our ClientHello as a huge request
		// size: real Kafka hangs up, kfake waits for the bytes.
		ce.Explain = "the broker did not complete the TLS handshake: this listener likely speaks plaintext; drop --tls/--tls-ca or use its TLS port"
	case strings.Contains(err.Error(), "certificate required"), strings.Contains(err.Error(), "bad certificate"):
		ce.Explain = "the broker wants a (valid) client certificate: set --tls-cert and --tls-key"
	default:
		ce.Explain = "TLS handshake failed"
	}
	return ce
}

// isClosed: the peer hung up.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// redact keeps a password out of an error message, whatever produced it
// (defence in depth: nothing above formats it).
func redact(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), password, "***"), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
