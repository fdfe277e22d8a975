package deploy

import (
	"bytes"
	"flag"
	"os"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/api/equality"
	sigsyaml "sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite deploy/k8s/base/prometheusrule.yaml from deploy/prometheus/alerts.yml")

const (
	ruleFile   = "k8s/base/prometheusrule.yaml"
	ruleHeader = `# framecast's alerts (deploy/prometheus/alerts.yml) as a prometheus-operator
# PrometheusRule. Generated: edit alerts.yml, then
#   go test ./deploy -run TestPrometheusRuleFollowsAlerts -update
# Your Prometheus selects rules by label (ruleSelector); add the label it
# wants (kube-prometheus-stack: release: <its release name>) in an overlay.
`
)

// TestPrometheusRuleFollowsAlerts: the PrometheusRule the Kubernetes base
// ships holds exactly the groups of alerts.yml (the file promtool tests),
// so the alerts on a cluster are the tested ones; -update regenerates it.
func TestPrometheusRuleFollowsAlerts(t *testing.T) {
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}
	if err := sigsyaml.UnmarshalStrict(b, &file); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	want := monitoringv1.PrometheusRule{}
	want.APIVersion, want.Kind = "monitoring.coreos.com/v1", "PrometheusRule"
	want.Name = "framecast"
	want.Spec.Groups = file.Groups
	if *update {
		out, err := sigsyaml.Marshal(&want)
		if err != nil {
			t.Fatal(err)
		}
		// Without the empty fields the marshaller writes for the
		// operator's types (creationTimestamp: null and the like).
		var node yaml.Node
		if err := yaml.Unmarshal(out, &node); err != nil {
			t.Fatal(err)
		}
		prune(&node)
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(&node); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ruleFile, append([]byte(ruleHeader), buf.Bytes()...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err = os.ReadFile(ruleFile)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./deploy -run TestPrometheusRuleFollowsAlerts -update)", err)
	}
	var got monitoringv1.PrometheusRule
	if err := sigsyaml.UnmarshalStrict(b, &got); err != nil {
		t.Fatalf("%s: %v", ruleFile, err)
	}
	if len(got.Spec.Groups) == 0 || !equality.Semantic.DeepEqual(got.Spec.Groups, want.Spec.Groups) || got.Name != want.Name {
		t.Errorf("%s does not hold %s's groups: regenerate it with go test ./deploy -run TestPrometheusRuleFollowsAlerts -update", ruleFile, alertsFile)
	}
}

// prune removes mapping entries whose value is null or an empty mapping.
func prune(n *yaml.Node) {
	for _, c := range n.Content {
		prune(c)
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		v := n.Content[i+1]
		if v.Tag == "!!null" || v.Kind == yaml.MappingNode && len(v.Content) == 0 {
			continue
		}
		kept = append(kept, n.Content[i], v)
	}
	n.Content = kept
}
