package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/broker"
	"github.com/framecast/framecast/internal/process"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/source"
	"github.com/framecast/framecast/internal/telemetry"
	"github.com/framecast/framecast/internal/testkit"
)

const (
	alertsFile     = "prometheus/alerts.yml"
	alertTestsFile = "prometheus/alerts_test.yml"
	dashboardFile  = "grafana/framecast.json"
)

// tool returns the path of a binary of Debian's prometheus package, or
// skips the test without it.
func tool(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian: apt-get install prometheus; .ci/run does): %v", name, err)
	}
	return bin
}

// TestAlertRules: promtool accepts the rules and the example
// configuration, the unit tests pass, and every alert has a unit test
// where it fires and one where it does not.
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", alertsFile},
		{"test", "rules", alertTestsFile},
		{"check", "config", "prometheus/prometheus.yml"},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, alertTestsFile, &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	alerts := alertRules(t)
	if len(alerts) == 0 {
		t.Fatalf("no alerts in %s", alertsFile)
	}
	for _, a := range alerts {
		if !fires[a.Alert] || !quiet[a.Alert] {
			t.Errorf("%s: %s needs a test where it fires (%v) and one where it does not (%v)", alertTestsFile, a.Alert, fires[a.Alert], quiet[a.Alert])
		}
		if a.For == "" || a.Labels["severity"] == "" || a.Annotations["summary"] == "" || a.Annotations["description"] == "" {
			t.Errorf("%s: %s needs for:, a severity label, a summary and a description", alertsFile, a.Alert)
		}
	}
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func alertRules(t *testing.T) []alertRule {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, alertsFile, &rules)
	var all []alertRule
	for _, g := range rules.Groups {
		all = append(all, g.Rules...)
	}
	return all
}

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestQueriesReturnSeries runs Debian's Prometheus against a live
// pipeline (the embedded broker, a publisher of two cameras and a
// processor on analysis.Fake, each with its --metrics-listen endpoints)
// and queries every expression of the dashboard and of the alerts: each
// must return at least one series, so none names a metric or label the
// code does not export.
//
// An alert's expression is queried without its thresholds (alertParts):
// a healthy pipeline should fire none, but every metric an alert compares
// must be there. Grafana's variables become what Grafana would send: the
// rate interval 1m, every template variable its "All" value, .*.
func TestQueriesReturnSeries(t *testing.T) {
	promBin := tool(t, "prometheus")
	targets := startPipeline(t)

	dir := t.TempDir()
	rules, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [%q]\nscrape_configs:\n", rules)
	for _, job := range slices.Sorted(maps.Keys(targets)) {
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs: [{targets: [%q]}]\n", job, targets[job])
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := "http://" + testkit.FreeAddr(t)
	var log testkit.LockedBuffer
	cmd := exec.Command(promBin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+strings.TrimPrefix(prom, "http://"), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus:\n%s", log.String())
		}
	})

	testkit.Eventually(t, 20*time.Second, "every target scraped and up", func() bool {
		var r struct {
			ActiveTargets []struct{ Health string } `json:"activeTargets"`
		}
		if apiGet(prom+"/api/v1/targets?state=active", &r) != nil || len(r.ActiveTargets) != len(targets) {
			return false
		}
		for _, tg := range r.ActiveTargets {
			if tg.Health != "up" {
				return false
			}
		}
		return true
	})

	queries := dashboardQueries(t)
	for _, a := range alertRules(t) {
		for _, q := range alertParts(a.Expr) {
			queries = append(queries, query{where: "alert " + a.Alert, expr: q})
		}
	}
	// Two scrapes at least for rate and deriv; then each query in turn,
	// the slow ones waiting for their samples.
	deadline := time.Now().Add(20 * time.Second)
	for _, q := range queries {
		var got []map[string]string
		var err error
		for {
			if got, err = series(prom, q.expr); (err == nil && len(got) > 0) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil || len(got) == 0 {
			t.Errorf("%s: %s returned no series (%v)", q.where, q.expr, err)
			continue
		}
		for _, l := range q.legend {
			if _, ok := got[0][l]; !ok {
				t.Errorf("%s: the legend names %s, which %s does not return: %v", q.where, l, q.expr, got[0])
			}
		}
	}
	t.Logf("%d queries", len(queries))

	// Prometheus evaluated every rule without an error.
	var r struct {
		Groups []struct {
			Rules []struct{ Name, Health, LastError string }
		}
	}
	testkit.Eventually(t, 5*time.Second, "the rules evaluated", func() bool {
		if apiGet(prom+"/api/v1/rules", &r) != nil || len(r.Groups) == 0 {
			return false
		}
		for _, rule := range r.Groups[0].Rules {
			if rule.Health == "unknown" {
				return false
			}
		}
		return true
	})
	for _, rule := range r.Groups[0].Rules {
		if rule.Health != "ok" {
			t.Errorf("rule %s: %s %s", rule.Name, rule.Health, rule.LastError)
		}
	}
}

type query struct {
	where, expr string
	legend      []string // the labels a panel's legend names
}

// grafanaVars are Grafana's variables in a panel's query: $name, ${name}
// or ${name:format}.
var grafanaVars = regexp.MustCompile(`\$(\{[^}]+\}|\w+)`)

// legendLabels are the labels a legend format names: {{label}}.
var legendLabels = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// dashboardQueries returns the expressions of every panel target and
// template variable query of the dashboard, with the variables replaced.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string
		Targets []struct{ Expr, LegendFormat string }
		Panels  json.RawMessage // a row's, when collapsed
	}
	var d struct {
		Panels     []panel
		Templating struct {
			List []struct {
				Name, Type string
				Query      any
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	subst := func(expr string) string {
		return grafanaVars.ReplaceAllStringFunc(expr, func(v string) string {
			switch strings.Trim(v, "${}") {
			case "__rate_interval", "__interval", "__range":
				return "1m"
			}
			return ".*"
		})
	}
	var qs []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				var legend []string
				for _, m := range legendLabels.FindAllStringSubmatch(tg.LegendFormat, -1) {
					legend = append(legend, m[1])
				}
				qs = append(qs, query{"panel " + p.Title, subst(tg.Expr), legend})
			}
			var nested []panel
			if len(p.Panels) > 0 && json.Unmarshal(p.Panels, &nested) == nil {
				walk(nested)
			}
		}
	}
	walk(d.Panels)
	// label_values(selector, label) asks for the label of the selector's
	// series: the selector must have some.
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)["query"].(string)
		if m := labelValues.FindStringSubmatch(q); m != nil {
			qs = append(qs, query{where: "variable " + v.Name, expr: subst(m[1])})
		} else {
			t.Errorf("variable %s: %q is not label_values(selector, label)", v.Name, q)
		}
	}
	if len(qs) < 10 {
		t.Fatalf("%s: only %d queries", dashboardFile, len(qs))
	}
	return qs
}

// threshold is a comparison with a number closing an expression.
var threshold = regexp.MustCompile(`\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?[-+]?[0-9.]+(e[-+]?[0-9]+)?\s*$`)

// matching is the vector matching that may open the right side of and,
// or and unless.
var matching = regexp.MustCompile(`^(on|ignoring)\s*\([^)]*\)\s*`)

// alertParts splits an alert expression at its top-level and, or and
// unless, and drops the threshold each part ends with: what remains are
// the series the alert compares, which a running pipeline has.
func alertParts(expr string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '(', '{', '[':
			depth++
		case ')', '}', ']':
			depth--
		case '"':
			for i++; i < len(expr) && expr[i] != '"'; i++ {
				if expr[i] == '\\' {
					i++
				}
			}
		case ' ', '\n':
			if depth != 0 {
				continue
			}
			for _, op := range []string{"and", "or", "unless"} {
				rest := expr[i+1:]
				if strings.HasPrefix(rest, op) && len(rest) > len(op) && strings.ContainsRune(" \n(", rune(rest[len(op)])) {
					parts = append(parts, expr[start:i])
					start = i + 1 + len(op)
					i = start - 1
					break
				}
			}
		}
	}
	parts = append(parts, expr[start:])
	for i, p := range parts {
		p = matching.ReplaceAllString(strings.TrimSpace(p), "")
		parts[i] = threshold.ReplaceAllString(p, "")
	}
	return parts
}

func TestAlertParts(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{"up == 0", []string{"up"}},
		{`framecast_source_up{camera!="a and b"} < 1`, []string{`framecast_source_up{camera!="a and b"}`}},
		{"max by (topic) (x) > 100\nand max by (topic) (deriv(x[10m])) > 0", []string{"max by (topic) (x)", "max by (topic) (deriv(x[10m]))"}},
		{"a / b > 0.01", []string{"a / b"}},
		{"histogram_quantile(0.99, sum by (le) (rate(h[5m]))) > 1e0", []string{"histogram_quantile(0.99, sum by (le) (rate(h[5m])))"}},
		{"a > bool 1 unless on (x) b", []string{"a", "b"}},
	} {
		if got := alertParts(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("alertParts(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// series returns the labels of the series an instant query returns.
func series(prom, expr string) ([]map[string]string, error) {
	var data struct {
		Result []struct{ Metric map[string]string }
	}
	err := apiGet(prom+"/api/v1/query?query="+url.QueryEscape(expr), &data)
	var got []map[string]string
	for _, r := range data.Result {
		got = append(got, r.Metric)
	}
	return got, err
}

// apiGet decodes the data of a Prometheus API answer into v.
func apiGet(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Status, Error string
		Data          json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: %w", resp.Status, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s", resp.Status, r.Error)
	}
	return json.Unmarshal(r.Data, v)
}

// stillSource is a camera that films the same JPEG at every read.
type stillSource struct{ jpeg []byte }

func (s stillSource) Next(context.Context) (source.Frame, error) {
	return source.Frame{JPEG: s.jpeg, Width: 640, Height: 480, CapturedAt: time.Now()}, nil
}

func (stillSource) Close() error { return nil }

// startPipeline runs the broker, a publisher of two cameras at 5 fps
// without end and a processor on analysis.Fake, each serving its
// metrics, until the test ends; it returns their metrics addresses by
// Prometheus job.
func startPipeline(t *testing.T) map[string]string {
	t.Helper()
	ctx, log := t.Context(), slog.New(slog.DiscardHandler)
	addr := testkit.FreeAddr(t)
	b, err := broker.Start(ctx, broker.Config{Listen: addr, DataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	serve := func(s *telemetry.Server, run func(context.Context) error) string {
		testkit.Go(t, func(ctx context.Context) error { return s.Serve(ctx, log, run) })
		testkit.Eventually(t, 5*time.Second, "the metrics server listens", func() bool { return s.Addr() != nil })
		return s.Addr().String()
	}
	idle := func(ctx context.Context) error { <-ctx.Done(); return nil }
	targets := map[string]string{"framecast-broker": serve(telemetry.New("127.0.0.1:0").WatchBroker(b), idle)}

	sp := telemetry.New("127.0.0.1:0")
	pub, err := publish.New(ctx, publish.Config{Log: log},
		sp.KafkaClient([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID("framecast-publish")})...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	jpeg := testkit.FlatJPEG(640, 480)
	cams := []publish.Camera{{ID: "cam-1", Source: stillSource{jpeg}, FPS: 5}, {ID: "cam-2", Source: stillSource{jpeg}, FPS: 5}}
	targets["framecast-publish"] = serve(sp.WatchPublish(pub), func(ctx context.Context) error { return pub.Run(ctx, cams) })

	s := telemetry.New("127.0.0.1:0")
	p, err := process.New(ctx, process.Config{
		Client:      s.KafkaClient([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID("framecast-process")}),
		NewAnalyzer: func() (analysis.Analyzer, error) { return &analysis.Fake{}, nil },
		Concurrency: 2, StatsInterval: -1, MaxAge: time.Minute, SessionTimeout: 6 * time.Second, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	targets["framecast-process"] = serve(s.WatchProcess(p), p.Run)
	testkit.Eventually(t, 20*time.Second, "frames processed", func() bool { return p.Stats().OK > 0 })
	return targets
}
