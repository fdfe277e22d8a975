package view

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
)

// cookieName holds a value derived from the token (cookieFor) in a browser
// once a ?token= link was opened, so the page's WebSocket and the images it
// loads are authorised too.
const cookieName = "framecast_token"

// cookiePrefix separates the cookie's hash from any other use of the
// token's SHA-256.
const cookiePrefix = "framecast-view-cookie-v1\x00"

// cookieFor is the cookie's value for a token: the hex SHA-256 of the token
// behind a fixed prefix. Any token then fits in a cookie (a raw token with
// a space, a quote, a semicolon or a non-ASCII letter would be mangled by
// the browser or by net/http), and the cookie does not hold the token
// itself.
func cookieFor(token string) string {
	h := sha256.Sum256([]byte(cookiePrefix + token))
	return hex.EncodeToString(h[:])
}

// IsLoopback reports whether a listen address (host:port) only accepts
// connections from this machine: a loopback IP or "localhost". An empty
// host, 0.0.0.0 and [::] listen on every interface.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrNeedsAuth is returned by CheckListen for a non-loopback address
// without a token.
var ErrNeedsAuth = errors.New("the dashboard would be reachable from other machines without authentication")

// CheckListen enforces the security default: the dashboard binds loopback
// addresses freely; any other address needs a token, or the explicit
// insecure opt-out.
func CheckListen(listen, token string, insecureNoAuth bool) error {
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return fmt.Errorf("--listen %q: want host:port, e.g. 127.0.0.1:8080", listen)
	}
	if IsLoopback(listen) || token != "" || insecureNoAuth {
		return nil
	}
	return fmt.Errorf("--listen %s: %w; set --auth-token (or FRAMECAST_AUTH_TOKEN) to a secret, or pass --insecure-no-auth if the network is trusted",
		listen, ErrNeedsAuth)
}

// tokenEqual compares in constant time (hashes first, so the length does
// not leak either).
func tokenEqual(got, want string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// authorized reports whether a request carries the token: an
// Authorization: Bearer header, a ?token= parameter or the cookie. Without
// a configured token everything is authorised.
func (s *Server) authorized(r *http.Request) (ok, viaQuery bool) {
	if s.cfg.AuthToken == "" {
		return true, false
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		if tokenEqual(strings.TrimSpace(h[7:]), s.cfg.AuthToken) {
			return true, false
		}
	}
	if q := r.URL.Query().Get("token"); q != "" && tokenEqual(q, s.cfg.AuthToken) {
		return true, true
	}
	if c, err := r.Cookie(cookieName); err == nil && tokenEqual(c.Value, s.cookieValue) {
		return true, false
	}
	return false, false
}

// requireAuth wraps the page, its assets, the WebSocket and the streams.
func (s *Server) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, viaQuery := s.authorized(r)
		if !ok {
			s.unauthorized.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="framecast"`)
			http.Error(w, "401 unauthorized: this dashboard needs its token: open it with ?token=<token>, "+
				"or send Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		if viaQuery && r.URL.Path == "/" && r.Method == http.MethodGet {
			// The page: keep the token's hash in a cookie and take the
			// token out of the address bar (and the history). Lax, not
			// Strict: a ?token= link clicked on another site (a chat, a
			// wiki) lands here as a cross-site navigation, and the page's
			// own WebSocket and images must then carry the cookie; Lax
			// still keeps it off other sites' subresource requests and
			// POSTs.
			http.SetCookie(w, &http.Cookie{
				Name: cookieName, Value: s.cookieValue, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
			})
			q := r.URL.Query()
			q.Del("token")
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// OriginPatternExample is the --allow-origin example of the help text
// (tested: it matches origins with and without a port).
const OriginPatternExample = "*.example.com"

// OriginPatterns splits --allow-origin values on commas (so that
// FRAMECAST_ALLOW_ORIGIN=a.example,b.example is two patterns) and checks
// each with path.Match, so that a malformed pattern is an error at start-up
// rather than a refused WebSocket later. Empty items are skipped.
func OriginPatterns(values []string) ([]string, error) {
	var out []string
	var errs []error
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("origin pattern %q is malformed (path.Match syntax: * ? [a-z] and \\ to escape)", p))
				continue
			}
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}

// withAnyPort adds to each origin pattern without a port the same pattern
// with any port: the WebSocket library matches patterns against the
// origin's host:port, where *.example.com alone would miss
// https://dash.example.com:8443.
func withAnyPort(patterns []string) []string {
	var out []string
	for _, p := range patterns {
		out = append(out, p)
		host := p
		if _, after, ok := strings.Cut(p, "://"); ok {
			host = after
		}
		if !strings.Contains(host, ":") {
			out = append(out, p+":*")
		}
	}
	return out
}

// HostNames splits --allow-host values on commas and normalises each name:
// lower case, without a port or a trailing dot. A name must be a plain host
// name or IP address (no wildcards). Empty items are skipped.
func HostNames(values []string) ([]string, error) {
	var out []string
	var errs []error
	for _, v := range values {
		for h := range strings.SplitSeq(v, ",") {
			h = strings.TrimSpace(h)
			if h == "" {
				continue
			}
			n := hostName(h)
			if n == "" || strings.ContainsFunc(n, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-._:%", r))
			}) {
				errs = append(errs, fmt.Errorf("host %q: want a host name or IP address, optionally with a port (no wildcards)", h))
				continue
			}
			out = append(out, n)
		}
	}
	return out, errors.Join(errs...)
}

// hostName is a Host header's (or a host:port's) name: lower case, without
// the port, the brackets of an IPv6 address or a trailing dot; an IP
// address in its canonical form.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")), ".")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return h
}

// setHosts computes the Host names answered without a token:
// Config.AllowHosts and the listener's address; for a wildcard listener
// (0.0.0.0, [::]), every address of the machine and its host name (the
// URL the command prints).
func (s *Server) setHosts(addr net.Addr) {
	hosts := map[string]bool{}
	for _, h := range s.cfg.AllowHosts {
		hosts[h] = true
	}
	if addr != nil {
		if host, _, err := net.SplitHostPort(addr.String()); err == nil {
			if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				if addrs, err := net.InterfaceAddrs(); err == nil {
					for _, a := range addrs {
						if n, ok := a.(*net.IPNet); ok {
							hosts[n.IP.String()] = true
						}
					}
				}
				if h, err := os.Hostname(); err == nil && h != "" {
					hosts[hostName(h)] = true
				}
			} else {
				hosts[hostName(host)] = true
			}
		}
	}
	s.hosts.Store(&hosts)
}

// hostAllowed reports whether a request's Host may be answered without a
// token: localhost, a loopback address, or one of s.hosts. A browser sends
// the name of the site it loaded the page from, so a page of a site whose
// DNS points at this machine (DNS rebinding) is refused.
func (s *Server) hostAllowed(host string) bool {
	h := hostName(host)
	if h == "localhost" {
		return true
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return true
	}
	return (*s.hosts.Load())[h]
}

// checkHost refuses, without a token configured, the requests whose Host
// is not one the dashboard answers to (hostAllowed), with 421.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AuthToken != "" || s.hostAllowed(r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		s.unauthorized.Add(1)
		http.Error(w, fmt.Sprintf("421 misdirected request: this dashboard has no --auth-token, so it answers only to "+
			"localhost, loopback addresses and the address it listens on, not to Host %q (a protection against DNS rebinding). "+
			"Reaching it under another name (a reverse proxy)? Start it with --allow-host NAME, or set --auth-token.", r.Host),
			http.StatusMisdirectedRequest)
	})
}
