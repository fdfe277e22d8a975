package container

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeLoads loads deploy/compose.yaml with Compose's own loader
// (compose-go, the library `docker compose` is built on), as `docker
// compose config` would: the Compose Specification's schema, interpolation,
// profiles, `extends` of docker-compose.yml and the references between
// services, configs and volumes. Debian's docker.io has no compose plugin,
// so this is the Compose that runs here; the kafka and monitoring profiles
// are loaded, not started (their images come from a registry).
func TestComposeLoads(t *testing.T) {
	load := func(env []string, profiles ...string) (*types.Project, error) {
		opts, err := cli.NewProjectOptions([]string{"../compose.yaml"},
			cli.WithEnv(env), cli.WithProfiles(profiles), cli.WithConsistency(true), cli.WithResolvedPaths(true))
		if err != nil {
			return nil, err
		}
		return opts.LoadProject(context.Background())
	}
	token := []string{"FRAMECAST_AUTH_TOKEN=secret"}
	for _, tc := range []struct {
		profiles []string
		want     []string
	}{
		{nil, []string{"broker", "process", "publish", "view"}},
		{[]string{"kafka"}, []string{"broker", "kafka", "process", "publish", "topics", "view"}},
		{[]string{"monitoring"}, []string{"broker", "grafana", "process", "prometheus", "publish", "view"}},
		{[]string{"kafka", "monitoring"}, []string{"broker", "grafana", "kafka", "process", "prometheus", "publish", "topics", "view"}},
	} {
		p, err := load(token, tc.profiles...)
		if err != nil {
			t.Errorf("profiles %v: %v", tc.profiles, err)
			continue
		}
		if got := p.ServiceNames(); !slices.Equal(sorted(got), tc.want) {
			t.Errorf("profiles %v: services %v, want %v", tc.profiles, sorted(got), tc.want)
		}
		if slices.Contains(tc.profiles, "kafka") {
			k, err := p.GetService("kafka")
			if err != nil || !strings.HasPrefix(k.Image, "apache/kafka:") || k.HealthCheck == nil {
				t.Errorf("profile kafka: the service extended from docker-compose.yml: image %q, health check %v (%v)", k.Image, k.HealthCheck != nil, err)
			}
		}
		for _, name := range framecastServices {
			s, err := p.GetService(name)
			if err != nil {
				t.Fatal(err)
			}
			if !s.ReadOnly || s.User != "65532:65532" && s.User != "65532" {
				t.Errorf("profiles %v: %s: read_only %v, user %q", tc.profiles, name, s.ReadOnly, s.User)
			}
		}
	}
	// The dashboard's token is required, and Compose says so.
	if _, err := load(nil); err == nil || !strings.Contains(err.Error(), "FRAMECAST_AUTH_TOKEN") {
		t.Errorf("without FRAMECAST_AUTH_TOKEN: %v, want Compose to name the variable", err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
