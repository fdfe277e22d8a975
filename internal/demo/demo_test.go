package demo

import (
	"path/filepath"
	"testing"

	"github.com/framecast/framecast/internal/kafka"
)

func TestDataDir(t *testing.T) {
	home := filepath.Join("h")
	for _, tt := range []struct {
		listen, dir string
		temp        bool
	}{
		{kafka.DefaultBrokers, "h/demo/broker", false},
		{"127.0.0.1:9093", "h/demo/broker-9093", false},
		{"127.0.0.1:0", "h/demo/broker-run-*", true},
	} {
		dir, temp := DataDir(home, tt.listen)
		if dir != tt.dir || temp != tt.temp {
			t.Errorf("DataDir(%q) = %q, %v; want %q, %v", tt.listen, dir, temp, tt.dir, tt.temp)
		}
	}
}
