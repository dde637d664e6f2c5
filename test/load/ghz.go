package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// checkCall is the ext_authz v3 method ghz calls; ghz learns its schema
// through server reflection, which mfa-authz and the baseline both serve.
const checkCall = "envoy.service.auth.v3.Authorization/Check"

// ghzReport is the part of ghz's JSON report the harness reads.
type ghzReport struct {
	Name                string         `json:"name"`
	EndReason           string         `json:"endReason"`
	Count               uint64         `json:"count"`
	Total               time.Duration  `json:"total"`
	Average             time.Duration  `json:"average"`
	RPS                 float64        `json:"rps"`
	ErrorDistribution   map[string]int `json:"errorDistribution"`
	StatusDistribution  map[string]int `json:"statusCodeDistribution"`
	LatencyDistribution []struct {
		Percentage int           `json:"percentage"`
		Latency    time.Duration `json:"latency"`
	} `json:"latencyDistribution"`
}

// runGHZ runs ghz once against addr with the mix's data file for
// o.Duration, writes its JSON report (and, with a converter, its HTML
// report) to the report dir and returns the measurement.
func runGHZ(ctx context.Context, o Options, mix, target, addr, data string) (*Measurement, error) {
	base := filepath.Join(o.ReportDir, mix+"-"+target)
	jsonPath := base + ".json"
	args := []string{
		"--insecure",
		"--call", checkCall,
		"--data-file", data,
		"--duration", o.Duration.String(),
		// Requests in flight at the deadline finish and are counted, so a
		// run ends without cancelled calls.
		"--duration-stop", "wait",
		"--concurrency", fmt.Sprint(o.Concurrency),
		"--connections", fmt.Sprint(o.Connections),
		"--timeout", "5s",
		"--connect-timeout", "5s",
		"--name", mix + " on " + target,
		"--tags", fmt.Sprintf(`{"mix":%q,"target":%q}`, mix, target),
		"--format", "json",
		"--output", jsonPath,
		addr,
	}
	// Bounded: the run's duration plus time to start, reflect and write.
	rctx, cancel := context.WithTimeout(ctx, o.Duration+60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(rctx, o.GHZ, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ghz %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	m, err := readReport(jsonPath)
	if err != nil {
		return nil, err
	}
	m.Target = target
	if o.GHZHTML != "" {
		hctx, hcancel := context.WithTimeout(ctx, 60*time.Second)
		defer hcancel()
		if out, err := exec.CommandContext(hctx, o.GHZHTML, jsonPath, base+".html").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s %s: %v\n%s", o.GHZHTML, jsonPath, err, out)
		}
	}
	return m, nil
}

func readReport(path string) (*Measurement, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r ghzReport
	if err := json.NewDecoder(f).Decode(&r); err != nil {
		return nil, fmt.Errorf("ghz report %s: %w", path, err)
	}
	m := &Measurement{
		Report: path, EndReason: r.EndReason, Count: r.Count, RPS: r.RPS, Average: r.Average,
		Errors: r.ErrorDistribution, Statuses: r.StatusDistribution,
	}
	for _, l := range r.LatencyDistribution {
		switch l.Percentage {
		case 50:
			m.P50 = l.Latency
		case 99:
			m.P99 = l.Latency
		}
	}
	if m.Count == 0 || m.P50 == 0 || m.P99 == 0 {
		return nil, fmt.Errorf("ghz report %s: no requests measured (count %d, p50 %s, p99 %s, end reason %q)",
			path, m.Count, m.P50, m.P99, m.EndReason)
	}
	return m, nil
}

// Failed returns the number of calls that did not end with rpc status OK.
func (m Measurement) Failed() int {
	n := 0
	for status, c := range m.Statuses {
		if status != "OK" {
			n += c
		}
	}
	for _, c := range m.Errors {
		n += c
	}
	return n
}

// WriteTable prints the result: per mix, RPS, p50 and p99 of mfa-authz
// and of the baseline, and mfa-authz's figure as a multiple of the
// baseline's.
func WriteTable(w io.Writer, r *Result) error {
	o := r.Options
	fmt.Fprintf(w, "mfa-authz vs no-op baseline, gRPC Check on loopback: %s per run, concurrency %d, %d connections, ghz %s, %s\n\n",
		o.Duration, o.Concurrency, o.Connections, r.GHZ, cpus())
	const row = "%-13s %-10s %9s %7s %9s %8s %8s\n"
	fmt.Fprintf(w, row, "mix", "server", "requests", "non-OK", "RPS", "p50 ms", "p99 ms")
	for _, mr := range r.Mixes {
		name := mr.Mix.Name
		for _, m := range []Measurement{mr.MFA, mr.Baseline} {
			fmt.Fprintf(w, row, name, m.Target, fmt.Sprint(m.Count), fmt.Sprint(m.Failed()), fmt.Sprintf("%.0f", m.RPS),
				fmt.Sprintf("%.3f", ms(m.P50)), fmt.Sprintf("%.3f", ms(m.P99)))
			name = ""
		}
		fmt.Fprintf(w, row, "", "ratio", "", "", fmt.Sprintf("%.2fx", ratio(mr.MFA.RPS, mr.Baseline.RPS)),
			fmt.Sprintf("%.2fx", ratio(ms(mr.MFA.P50), ms(mr.Baseline.P50))), fmt.Sprintf("%.2fx", ratio(ms(mr.MFA.P99), ms(mr.Baseline.P99))))
	}
	fmt.Fprintln(w, "\nratio = mfa-authz / baseline. non-OK = calls without rpc status OK (a denial is an OK call carrying a DeniedResponse).")
	fmt.Fprintln(w, "ghz runs on the same CPUs as the servers: on a small machine it is a large part of the load.")
	if r.LoadBefore != "" && r.LoadAfter != "" {
		fmt.Fprintf(w, "load average (1/5/15 min) before the runs: %s, after: %s\n", r.LoadBefore, r.LoadAfter)
	}
	var mixes []string
	for _, mr := range r.Mixes {
		kinds := make([]string, 0, len(mr.Verified))
		for k, n := range mr.Verified {
			kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
		}
		sort.Strings(kinds)
		mixes = append(mixes, fmt.Sprintf("%s (%s)", mr.Mix.Name, strings.Join(kinds, ", ")))
	}
	fmt.Fprintf(w, "answers verified before and after the runs: %s\n", strings.Join(mixes, "; "))
	for _, pr := range r.Proxies {
		writeProxyTable(w, o, pr)
	}
	if len(o.Skipped) > 0 {
		fmt.Fprintln(w)
		for _, s := range o.Skipped {
			fmt.Fprintln(w, s)
		}
	}
	dir := o.ReportDir
	if rel, err := filepath.Rel(o.Root, dir); err == nil && !strings.HasPrefix(rel, "..") {
		dir = rel
	}
	fmt.Fprintf(w, "reports: %s\n", dir)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
