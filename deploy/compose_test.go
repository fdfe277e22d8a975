// Package deploy holds deployment files; this test parses them, since no
// container engine runs where the tests do.
package deploy

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image       string         `yaml:"image"`
			Ports       []string       `yaml:"ports"`
			Environment map[string]any `yaml:"environment"`
			Healthcheck map[string]any `yaml:"healthcheck"`
			Volumes     []string       `yaml:"volumes"`
			Extra       map[string]any `yaml:",inline"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	k, ok := c.Services["kafka"]
	if !ok {
		t.Fatal("no kafka service")
	}
	if !strings.HasPrefix(k.Image, "apache/kafka:") {
		t.Errorf("image %q: use the official apache/kafka image (Bitnami's are gone)", k.Image)
	}
	env := map[string]string{}
	for key, v := range k.Environment {
		switch v := v.(type) {
		case string:
			env[key] = v
		case int:
			env[key] = strconv.Itoa(v)
		}
	}
	if !strings.Contains(env["KAFKA_PROCESS_ROLES"], "controller") {
		t.Error("not KRaft: KAFKA_PROCESS_ROLES lacks controller")
	}
	if n, _ := strconv.Atoi(env["KAFKA_MESSAGE_MAX_BYTES"]); n < 16<<20 {
		t.Errorf("message.max.bytes %d is below framecast's 16 MiB frame limit", n)
	}
	if !strings.Contains(env["KAFKA_ADVERTISED_LISTENERS"], "localhost:9092") {
		t.Error("no listener advertised for the host")
	}
	if len(k.Ports) == 0 || !strings.HasSuffix(k.Ports[0], ":9092:9092") {
		t.Errorf("ports %v: publish 9092", k.Ports)
	}
	if k.Healthcheck == nil {
		t.Error("no healthcheck")
	}
}
