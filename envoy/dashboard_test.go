package envoy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mfa-authz/mfa-authz/authz/telemetry"
)

// TestGrafanaDashboard checks that the dashboard parses and that every
// metric its queries name is one mfa-authz exports.
func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatal("dashboard has no title or no panels")
	}
	known := telemetry.Names()
	metric := regexp.MustCompile(`\bmfa_authz_[a-z0-9_]+`)
	var exprs []string
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if s, ok := v.Query.(string); ok {
			exprs = append(exprs, s)
		}
	}
	used := map[string]bool{}
	for _, e := range exprs {
		for _, name := range metric.FindAllString(e, -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
			if !slices.Contains(known, name) && !slices.Contains(known, base) {
				t.Errorf("dashboard query %q names %s, which mfa-authz does not export", e, name)
			}
			used[base] = true
		}
	}
	// The metrics the issue asks a dashboard for each have a panel.
	for _, name := range []string{telemetry.MetricChecks, telemetry.MetricCheckDuration, telemetry.MetricVerifications,
		telemetry.MetricCacheHits, telemetry.MetricCacheMisses, telemetry.MetricCacheEvictions, telemetry.MetricCodesSent,
		telemetry.MetricCodeSendFailures, telemetry.MetricBans, telemetry.MetricStoreErrors, telemetry.MetricPolicyReloads,
		telemetry.MetricBuildInfo} {
		if !used[name] {
			t.Errorf("no dashboard panel shows %s", name)
		}
	}
}
