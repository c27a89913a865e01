package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// dashboard is the part of a Grafana dashboard JSON the test reads.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// TestDashboardNamesOnlyRegisteredMetrics: every panel of the Grafana
// dashboard queries the provisioned Prometheus data source, and every
// textkit_ metric it names is one our code registers (a renamed metric
// would otherwise leave an empty panel).
func TestDashboardNamesOnlyRegisteredMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "dashboards", "textkit.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("textkit.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	uid := datasourceUID(t)
	registered := registeredMetrics(t)
	used := map[string]bool{}
	graphs := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		graphs++
		if p.Datasource == nil || p.Datasource.UID != uid {
			t.Errorf("panel %q: its data source must be the provisioned one, uid %s", p.Title, uid)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, q := range p.Targets {
			names := ourMetric.FindAllString(q.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names none of our metrics", p.Title, q.Expr)
			}
			for _, name := range names {
				used[name] = true
				if !registered[name] {
					t.Errorf("panel %q: metric %s is not registered by our code", p.Title, name)
				}
			}
			if strings.Count(q.Expr, "(") != strings.Count(q.Expr, ")") {
				t.Errorf("panel %q: unbalanced parentheses in %q", p.Title, q.Expr)
			}
		}
	}
	if graphs == 0 {
		t.Fatal("the dashboard has no panels")
	}
	// What the on-call engineer must see (issue 13).
	for _, name := range []string{
		"textkit_gateway_commands_total", "textkit_provisioner_command_seconds_bucket", "textkit_provisioner_rejections_total",
		"textkit_gateway_command_seconds_bucket", "textkit_commands_oldest_pending_age_seconds", "textkit_provisioner_dead_letters_total",
		"textkit_retention_keys_destroyed_total", "textkit_retention_destructions_overdue_oldest_seconds",
		"textkit_twilio_errors_total", "textkit_vault_errors_total", "textkit_ready",
	} {
		if !used[name] {
			t.Errorf("the dashboard shows nothing of %s", name)
		}
	}
}

// datasourceUID is the uid of the Prometheus data source Grafana is
// provisioned with.
func datasourceUID(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(raw, &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].UID == "" {
		t.Fatalf("want one prometheus data source with a uid: %+v", ds.Datasources)
	}
	return ds.Datasources[0].UID
}
