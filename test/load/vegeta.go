package load

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RateMeasurement is one fixed-rate run's outcome: vegeta sends the mix's
// requests at a constant rate, whether or not earlier answers came back,
// so latencies include any queueing a slow front end causes (wrk's closed
// loop would slow down instead).
type RateMeasurement struct {
	Target string
	Report string // vegeta's JSON report
	// Rate is the rate asked for, per second; Requests how many were sent.
	Rate     float64
	Requests uint64
	// Throughput is the rate of answers received, per second.
	Throughput float64
	P50, P99   time.Duration
	Max        time.Duration
	// Statuses counts the answers by HTTP status ("0" for a request that got
	// none: a socket error or a timeout).
	Statuses map[string]int
	// Expected is the status every answer must have (200, or 403 in a
	// denied run); Unexpected counts the others.
	Expected   int
	Unexpected int
}

// vegetaReport is what `vegeta report -type=json` prints.
type vegetaReport struct {
	Latencies struct {
		P50 int64 `json:"50th"`
		P99 int64 `json:"99th"`
		Max int64 `json:"max"`
	} `json:"latencies"`
	Requests    uint64         `json:"requests"`
	Throughput  float64        `json:"throughput"`
	StatusCodes map[string]int `json:"status_codes"`
	Errors      []string       `json:"errors"`
}

// vegetaTargets writes reqs as a vegeta targets file in vegeta's HTTP
// format, aimed at base, with each body in a file of its own.
func vegetaTargets(reqs []HTTPRequest, base, dir, name string) (string, error) {
	var b strings.Builder
	for i, r := range reqs {
		fmt.Fprintf(&b, "%s %s%s\n", r.Method, base, r.Path)
		for _, h := range r.Header {
			fmt.Fprintf(&b, "%s: %s\n", h[0], h[1])
		}
		if r.Body != "" {
			body := filepath.Join(dir, fmt.Sprintf("%s-body-%d", name, i))
			if err := writeFile(body, r.Body); err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "@%s\n", body)
		}
		b.WriteString("\n")
	}
	file := filepath.Join(dir, name+".targets")
	return file, writeFile(file, b.String())
}

// runVegeta sends the targets round robin at rate per second for the run's
// duration, then reports.
func runVegeta(ctx context.Context, o Options, targets string, rate float64, expected int, report string) (*RateMeasurement, error) {
	dur := time.Duration(wrkSeconds(o.Duration)) * time.Second
	results := strings.TrimSuffix(report, ".json") + ".bin"
	rctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	attack := []string{"attack", "-targets", targets, "-rate", strconv.Itoa(int(rate)) + "/1s", "-duration", dur.String(),
		"-timeout", "5s", "-keepalive", "-connections", strconv.Itoa(o.Concurrency),
		"-max-connections", strconv.Itoa(2 * o.Concurrency), "-redirects", "-1", "-output", results}
	if out, err := exec.CommandContext(rctx, o.Vegeta, attack...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s %s: %v\n%s", o.Vegeta, strings.Join(attack, " "), err, out)
	}
	out, err := exec.CommandContext(rctx, o.Vegeta, "report", "-type", "json", results).Output()
	if err != nil {
		return nil, fmt.Errorf("%s report %s: %v", o.Vegeta, results, err)
	}
	if err := os.WriteFile(report, out, 0o644); err != nil {
		return nil, err
	}
	var vr vegetaReport
	if err := json.Unmarshal(out, &vr); err != nil {
		return nil, fmt.Errorf("vegeta report %s: %w", filepath.Base(report), err)
	}
	m := &RateMeasurement{Report: report, Rate: rate, Requests: vr.Requests, Throughput: vr.Throughput,
		P50: time.Duration(vr.Latencies.P50), P99: time.Duration(vr.Latencies.P99), Max: time.Duration(vr.Latencies.Max),
		Statuses: vr.StatusCodes, Expected: expected}
	for code, n := range vr.StatusCodes {
		if code != strconv.Itoa(expected) {
			m.Unexpected += n
		}
	}
	return m, nil
}

// fixedRate is the rate of a mix's fixed-rate runs: o.Rate when set, else
// a quarter of the closed-loop RPS of the slowest front end, which all
// three sustain over a long run without queueing (at half, Caddy's
// forward_auth front ends fell behind within seconds on 2 cores), so that
// the runs compare latencies at equal, sustainable load.
func fixedRate(o Options, pm ProxyMix) float64 {
	if o.Rate > 0 {
		return float64(o.Rate)
	}
	slowest := pm.Runs[0].RPS
	for _, r := range pm.Runs[1:] {
		slowest = min(slowest, r.RPS)
	}
	return max(10, float64(int(slowest/4)))
}
