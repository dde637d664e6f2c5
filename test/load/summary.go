package load

import (
	"encoding/json"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The JSON summary (summary.json in the report dir): the table's figures,
// machine-readable, gRPC and proxy stages alike. Latencies are in
// milliseconds; reports are paths relative to the report dir.
type (
	jsonSummary struct {
		StartedAt   time.Time   `json:"started_at"`
		TookSeconds float64     `json:"took_seconds"`
		Machine     jsonMachine `json:"machine"`
		Settings    jsonSetting `json:"settings"`
		GRPC        jsonStage   `json:"grpc"`
		Proxies     []jsonStage `json:"proxies"`
		Skipped     []string    `json:"skipped"`
	}
	jsonMachine struct {
		CPUs       int    `json:"cpus"`
		GOMAXPROCS int    `json:"gomaxprocs"`
		LoadBefore string `json:"load_average_before"`
		LoadAfter  string `json:"load_average_after"`
	}
	jsonSetting struct {
		DurationSeconds float64 `json:"duration_seconds"`
		Concurrency     int     `json:"concurrency"`
		GRPCConnections int     `json:"grpc_connections"`
		HTTPThreads     int     `json:"http_threads"`
	}
	jsonStage struct {
		Stage     string    `json:"stage"` // "grpc", "caddy", "envoy"
		Version   string    `json:"version,omitempty"`
		Generator string    `json:"generator"` // ghz or wrk, with its version
		Mixes     []jsonMix `json:"mixes"`
	}
	jsonMix struct {
		Mix    string               `json:"mix"`
		Runs   []jsonRun            `json:"runs"`
		Ratios map[string]jsonRatio `json:"ratios"` // "mfa-authz/baseline" and the like
		// Fixed are the proxy stages' fixed-rate runs (vegeta), with the
		// latency ratios of the front end asking mfa-authz to the one
		// asking the no-op baseline.
		Fixed       []jsonFixed          `json:"fixed_rate,omitempty"`
		FixedRatios map[string]jsonRatio `json:"fixed_rate_ratios,omitempty"`
	}
	jsonFixed struct {
		Target     string         `json:"target"`
		Rate       float64        `json:"rate"`
		Requests   uint64         `json:"requests"`
		Throughput float64        `json:"throughput"`
		P50Ms      float64        `json:"p50_ms"`
		P99Ms      float64        `json:"p99_ms"`
		MaxMs      float64        `json:"max_ms"`
		Statuses   map[string]int `json:"statuses"`
		Report     string         `json:"report"`
	}
	jsonRun struct {
		Target   string         `json:"target"`
		Requests uint64         `json:"requests"`
		Errors   int            `json:"errors"`
		RPS      float64        `json:"rps"`
		P50Ms    float64        `json:"p50_ms"`
		P99Ms    float64        `json:"p99_ms"`
		Report   string         `json:"report"`
		Detail   map[string]any `json:"detail,omitempty"`
	}
	jsonRatio struct {
		RPS float64 `json:"rps"`
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	}
)

// WriteJSON writes the result as the JSON summary.
func WriteJSON(w io.Writer, r *Result) error {
	o := r.Options
	rel := func(p string) string {
		if q, err := filepath.Rel(o.ReportDir, p); err == nil && !strings.HasPrefix(q, "..") {
			return q
		}
		return p
	}
	s := jsonSummary{
		StartedAt: r.StartedAt, TookSeconds: r.Took.Seconds(),
		Machine: jsonMachine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), LoadBefore: r.LoadBefore, LoadAfter: r.LoadAfter},
		Settings: jsonSetting{DurationSeconds: o.Duration.Seconds(), Concurrency: o.Concurrency, GRPCConnections: o.Connections,
			HTTPThreads: min(o.HTTPThreads, o.Concurrency)},
		GRPC:    jsonStage{Stage: "grpc", Generator: "ghz " + r.GHZ},
		Skipped: append([]string{}, o.Skipped...),
		Proxies: []jsonStage{},
	}
	for _, mr := range r.Mixes {
		jm := jsonMix{Mix: mr.Mix.Name, Ratios: map[string]jsonRatio{"mfa-authz/baseline": ratios(mr.MFA.RPS, mr.Baseline.RPS, mr.MFA.P50, mr.Baseline.P50, mr.MFA.P99, mr.Baseline.P99)}}
		for _, m := range []Measurement{mr.MFA, mr.Baseline} {
			jm.Runs = append(jm.Runs, jsonRun{Target: m.Target, Requests: m.Count, Errors: m.Failed(), RPS: round(m.RPS, 2), P50Ms: round(ms(m.P50), 3), P99Ms: round(ms(m.P99), 3),
				Report: rel(m.Report), Detail: map[string]any{"statuses": m.Statuses, "errors": m.Errors, "end_reason": m.EndReason}})
		}
		s.GRPC.Mixes = append(s.GRPC.Mixes, jm)
	}
	for _, pr := range r.Proxies {
		st := jsonStage{Stage: pr.Proxy, Version: pr.Version, Generator: pr.WRK}
		for _, pm := range pr.Mixes {
			jm := jsonMix{Mix: pm.Mix.Name, Ratios: map[string]jsonRatio{}}
			mfa := pm.Runs[frontMFA]
			for _, f := range []int{frontPlain, frontNoop} {
				b := pm.Runs[f]
				jm.Ratios[pr.Targets[frontMFA]+"/"+pr.Targets[f]] = ratios(mfa.RPS, b.RPS, mfa.P50, b.P50, mfa.P99, b.P99)
			}
			for _, m := range pm.Runs {
				jm.Runs = append(jm.Runs, jsonRun{Target: m.Target, Requests: m.Requests, Errors: m.Errors(), RPS: round(m.RPS, 2), P50Ms: round(ms(m.P50), 3), P99Ms: round(ms(m.P99), 3),
					Report: rel(m.Report), Detail: map[string]any{
						"non_2xx_or_3xx": m.Non2xx, "socket_errors": map[string]int{"connect": m.Connect, "read": m.Read, "write": m.Write, "timeout": m.Timeout},
						"upstream_requests": m.UpstreamHits, "upstream_x_mfa_method_totp": m.UpstreamTOTP,
					}})
			}
			if len(pm.Fixed) == 3 {
				for _, m := range pm.Fixed {
					jm.Fixed = append(jm.Fixed, jsonFixed{Target: m.Target, Rate: m.Rate, Requests: m.Requests, Throughput: round(m.Throughput, 2),
						P50Ms: round(ms(m.P50), 3), P99Ms: round(ms(m.P99), 3), MaxMs: round(ms(m.Max), 3), Statuses: m.Statuses, Report: rel(m.Report)})
				}
				mfa, noop := pm.Fixed[frontMFA], pm.Fixed[frontNoop]
				jm.FixedRatios = map[string]jsonRatio{pr.Targets[frontMFA] + "/" + pr.Targets[frontNoop]: ratios(mfa.Throughput, noop.Throughput, mfa.P50, noop.P50, mfa.P99, noop.P99)}
			}
			st.Mixes = append(st.Mixes, jm)
		}
		s.Proxies = append(s.Proxies, st)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

func ratios(rps, baseRPS float64, p50, baseP50, p99, baseP99 time.Duration) jsonRatio {
	return jsonRatio{RPS: round(ratio(rps, baseRPS), 3), P50: round(ratio(ms(p50), ms(baseP50)), 3), P99: round(ratio(ms(p99), ms(baseP99)), 3)}
}

// round rounds x to the given number of decimals.
func round(x float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(x*p) / p
}
