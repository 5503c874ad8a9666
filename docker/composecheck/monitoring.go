package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// checkMonitoring: Prometheus scrapes gregor; Grafana gets the Prometheus data source and the
// dashboards, whose queries all go to that data source.
func checkMonitoring(p *types.Project) {
	prom, err := p.GetService("prometheus")
	check(err == nil, "service prometheus exists", err)
	if err == nil {
		check(strings.HasPrefix(prom.Image, "prom/prometheus"), "prometheus runs prom/prometheus", prom.Image)
		check(dependsOn(prom, "kafka", types.ServiceConditionHealthy), "prometheus waits for a healthy kafka")
		conf, ok := bindSource(prom, prometheusConf)
		check(ok, "prometheus mounts a config file on "+prometheusConf)
		if ok {
			var cfg struct {
				ScrapeConfigs []struct {
					MetricsPath   string `yaml:"metrics_path"`
					StaticConfigs []struct {
						Targets []string `yaml:"targets"`
					} `yaml:"static_configs"`
				} `yaml:"scrape_configs"`
			}
			err := readYAML(conf, &cfg)
			check(err == nil, "prometheus config parses: "+conf, err)
			scraped := false
			for _, sc := range cfg.ScrapeConfigs {
				for _, st := range sc.StaticConfigs {
					scraped = scraped || (slices.Contains(st.Targets, metricsTarget) &&
						(sc.MetricsPath == "" || sc.MetricsPath == "/metrics"))
				}
			}
			check(scraped, "prometheus scrapes "+metricsTarget+"/metrics")
		}
	}

	graf, err := p.GetService("grafana")
	check(err == nil, "service grafana exists", err)
	if err != nil {
		return
	}
	check(strings.HasPrefix(graf.Image, "grafana/grafana"), "grafana runs grafana/grafana", graf.Image)
	check(dependsOn(graf, "prometheus", types.ServiceConditionStarted), "grafana starts after prometheus")
	prov, ok := bindSource(graf, grafanaProv)
	check(ok, "grafana mounts its provisioning on "+grafanaProv)
	if !ok {
		return
	}
	var sources struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	dsFile := filepath.Join(prov, "datasources", "prometheus.yml")
	err = readYAML(dsFile, &sources)
	check(err == nil, "grafana data sources parse: "+dsFile, err)
	uid := ""
	for _, ds := range sources.Datasources {
		if ds.Type == "prometheus" && ds.URL == prometheusURL {
			uid = ds.UID
		}
	}
	check(uid != "", "grafana has a Prometheus data source at "+prometheusURL+" with a uid")

	var providers struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	provFile := filepath.Join(prov, "dashboards", "gregor.yml")
	err = readYAML(provFile, &providers)
	check(err == nil && len(providers.Providers) == 1, "grafana dashboard provider parses: "+provFile, err)
	if err != nil || len(providers.Providers) != 1 {
		return
	}
	path := providers.Providers[0].Options.Path
	dir, ok := bindSource(graf, path)
	check(ok, "grafana mounts the dashboards on the provider's path "+path)
	if !ok {
		return
	}
	dashboards, err := loadDashboards(dir)
	check(err == nil && len(dashboards) > 0, "dashboards parse as JSON: "+dir, err)
	for name, d := range dashboards {
		var bad []string
		queries := 0
		for _, panel := range d.Panels {
			for _, t := range panel.Targets {
				queries++
				if t.Datasource.UID != uid || panel.Datasource.UID != uid || strings.TrimSpace(t.Expr) == "" {
					bad = append(bad, panel.Title)
				}
			}
		}
		check(queries > 0 && len(bad) == 0, fmt.Sprintf("%s: %d queries, each a PromQL expression on data source %q", name, queries, uid), bad)
	}
	check(len(metricNames(dashboards)) > 0, "the dashboards query gregor's metrics (check-compose.sh compares them with a scrape)")
}

type dashboard struct {
	Panels []struct {
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr       string `json:"expr"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

// The host directory of the grafana service's bind mount on target.
func dashboardsDir(p *types.Project) (string, error) {
	graf, err := p.GetService("grafana")
	if err != nil {
		return "", err
	}
	if dir, ok := bindSource(graf, "/var/lib/grafana/dashboards"); ok {
		return dir, nil
	}
	return "", fmt.Errorf("grafana mounts no dashboards directory")
}

func loadDashboards(dir string) (map[string]dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]dashboard{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out, nil
}

var metricName = regexp.MustCompile(`\b(?:gregor|process)_[a-z0-9_]+\b`)

// Every metric name (gregor_*, process_*) the dashboards' queries mention, sorted.
func metricNames(dashboards map[string]dashboard) []string {
	seen := map[string]bool{}
	for _, d := range dashboards {
		for _, panel := range d.Panels {
			for _, t := range panel.Targets {
				for _, m := range metricName.FindAllString(t.Expr, -1) {
					seen[m] = true
				}
			}
		}
	}
	names := make([]string, 0, len(seen))
	for m := range seen {
		names = append(names, m)
	}
	sort.Strings(names)
	return names
}

// The host path bound (as a file or directory that exists) on target in the container.
func bindSource(s types.ServiceConfig, target string) (string, bool) {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == target && fileExists(v.Source) {
			return v.Source, true
		}
	}
	return "", false
}

func readYAML(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return yaml.Unmarshal(data, into)
}
