package view

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// cookieName holds the token in a browser once a ?token= link was opened,
// so the page's WebSocket and the images it loads are authorised too.
const cookieName = "framecast_token"

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
	if c, err := r.Cookie(cookieName); err == nil && tokenEqual(c.Value, s.cfg.AuthToken) {
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
			// The page: keep the token in a cookie and take it out of
			// the address bar (and the history).
			http.SetCookie(w, &http.Cookie{
				Name: cookieName, Value: s.cfg.AuthToken, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
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
