package view

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestConfigValidate: zero fields are the defaults; the errors name the
// flags of `framecast view`.
func TestConfigValidate(t *testing.T) {
	for _, ok := range []Config{{}, {Listen: "0.0.0.0:8080", InsecureNoAuth: true}, {Listen: "[::]:0", AuthToken: "x"}, {StallAlarm: -1}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Listen: "0.0.0.0:8080"}, "--auth-token"},
		{Config{Listen: "nonsense"}, "--listen \"nonsense\": want host:port"},
		{Config{EmotionWindow: time.Millisecond}, "--emotion-window must be at least 1s"},
		{Config{WriteTimeout: -time.Second}, "--write-timeout positive"},
		{Config{AllowOrigins: []string{"ok.example.com,[bad"}}, `--allow-origin: origin pattern "[bad" is malformed`},
		{Config{AllowHosts: []string{"*.example.com"}}, "--allow-host"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error about %s", tc.cfg, err, tc.want)
		}
	}
}

// TestListenInUse: a taken address is explained, naming --listen.
func TestListenInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s, _ := offline(t, Config{Listen: taken.Addr().String()})
	if ln, err := s.Listen(); err == nil {
		ln.Close()
		t.Fatal("listened on a taken address")
	} else if !strings.Contains(err.Error(), "is in use") || !strings.Contains(err.Error(), "pick another --listen") {
		t.Errorf("error %q", err)
	}
}
