package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestComposeObservabilityProfile: Prometheus and Grafana run only in the
// `observability` profile, from pinned upstream images, on loopback; the
// repository's configuration is mounted where they read it; Prometheus
// scrapes each of our services on the port it listens on and loads the
// alerting rules; the stack itself is in no profile.
func TestComposeObservabilityProfile(t *testing.T) {
	c := loadCompose(t)
	for name, port := range observability {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("docker-compose.yml has no %s", name)
			continue
		}
		if !slices.Equal(s.Profiles, []string{"observability"}) {
			t.Errorf("%s: profiles %v, want [observability]", name, s.Profiles)
		}
		if s.Build != nil || !strings.HasPrefix(s.Image, name+":") && !strings.Contains(s.Image, "/"+name+":") || strings.HasSuffix(s.Image, ":latest") {
			t.Errorf("%s: image %q, want the upstream %s image at a pinned version", name, s.Image, name)
		}
		if want := fmt.Sprintf("127.0.0.1:%d:%d", port, port); !slices.Equal(s.Ports, []string{want}) {
			t.Errorf("%s publishes %v, want [%s]", name, s.Ports, want)
		}
	}
	for name, s := range c.Services {
		_, profiled := profileServices[name]
		_, cl := clusterServices[name]
		if _, obs := observability[name]; !obs && !profiled && !cl && len(s.Profiles) > 0 {
			t.Errorf("%s is in profiles %v: the stack itself must start without a profile", name, s.Profiles)
		}
	}
	mounts := func(name string) map[string]string { return bindMounts(t, name, c.Services[name]) }
	for _, m := range []struct{ service, src, dst string }{
		{"prometheus", "deploy/prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml:ro"},
		{"prometheus", "deploy/prometheus/alerts.yml", "/etc/prometheus/alerts.yml:ro"},
		{"grafana", "deploy/grafana/provisioning", "/etc/grafana/provisioning:ro"},
		{"grafana", "deploy/grafana/dashboards", "/var/lib/grafana/dashboards:ro"},
	} {
		got, ok := mounts(m.service)[m.src]
		if target, _, _ := strings.Cut(m.dst, ":"); !ok || got != target {
			t.Errorf("%s mounts ./%s at %q, want %s", m.service, m.src, got, m.dst)
		}
	}
	cfg := prometheusConfig(t)
	if !slices.Equal(cfg.RuleFiles, []string{"/etc/prometheus/alerts.yml"}) {
		t.Errorf("prometheus.yml rule_files %v, want the mounted alerts.yml", cfg.RuleFiles)
	}
	jobs := map[string][]string{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			jobs[sc.JobName] = append(jobs[sc.JobName], st.Targets...)
		}
	}
	for _, name := range []string{"gateway", "provisioner", "retention"} {
		port := strings.TrimPrefix(c.Services[name].Environment["TEXTKIT_HTTP_ADDR"], "0.0.0.0:")
		if want := name + ":" + port; !slices.Equal(jobs[name], []string{want}) {
			t.Errorf("prometheus.yml job %s scrapes %v, want [%s] (where %s serves /metrics)", name, jobs[name], want, name)
		}
	}
}

type promConfig struct {
	Global        map[string]string `yaml:"global"`
	RuleFiles     []string          `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func prometheusConfig(t *testing.T) promConfig {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg promConfig
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	return cfg
}
