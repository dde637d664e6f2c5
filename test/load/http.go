package load

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// HTTPMixNames are the mixes the proxy stages run: those whose requests
// are all of one kind, so that each run expects one answer to every
// request: the upstream's 200, or (missing-code through the front end
// asking mfa-authz) the 403 denial, which must never reach the upstream.
var HTTPMixNames = []string{"unprotected", "session", "missing-code"}

// HTTPRequest is one request of a mix as a client sends it to a proxy.
type HTTPRequest struct {
	Kind         Kind
	Method, Path string
	Header       [][2]string // Host first
	Body         string
}

// httpRequests turns a mix's CheckRequests back into the HTTP requests
// they describe: the same method, path, Host, authorization, x-user-id and
// x-request-id. token returns the bearer token for a user. A request that
// declares a body gets a JSON body of that length. wrk cannot read the
// answer to a HEAD request (it waits for the body Content-Length
// announces), so HEAD is sent as GET; both are unprotected reads.
func httpRequests(m Mix, token func(user string) string) []HTTPRequest {
	out := make([]HTTPRequest, 0, len(m.Entries))
	for _, e := range m.Entries {
		h := e.Req.GetAttributes().GetRequest().GetHttp()
		r := HTTPRequest{Kind: e.Kind, Method: h.GetMethod(), Path: h.GetPath()}
		if r.Method == http.MethodHead {
			r.Method = http.MethodGet
		}
		r.Header = append(r.Header, [2]string{"Host", h.GetHost()})
		if user := h.GetHeaders()["x-user-id"]; user != "" {
			r.Header = append(r.Header, [2]string{"Authorization", "Bearer " + token(user)}, [2]string{"X-User-Id", user})
		}
		r.Header = append(r.Header, [2]string{"X-Request-Id", h.GetHeaders()["x-request-id"]})
		if cl := h.GetHeaders()["content-length"]; cl != "" {
			var n int
			fmt.Sscan(cl, &n)
			r.Body = jsonBody(n)
			r.Header = append(r.Header, [2]string{"Content-Type", "application/json"})
		}
		out = append(out, r)
	}
	return out
}

// jsonBody returns a JSON:API-shaped body of n bytes (at least its frame).
func jsonBody(n int) string {
	const head, tail = `{"data":{"type":"loadtest","attributes":{"note":"`, `"}}}`
	return head + strings.Repeat("x", max(0, n-len(head)-len(tail))) + tail
}

// missingCodeBody is the glue profile's denial of a missing code, as the
// example config answers it.
const missingCodeBody = `{"errors":[{"status":403,"code":"5900","detail":"X-MFA-Code header is missing."}]}`

// upstreamMethodHeader is the response header in which the upstream echoes
// the X-Mfa-Method it received, for the verification before and after
// the runs.
const upstreamMethodHeader = "X-Upstream-Mfa-Method"

// upstream is the service behind the proxies: a Go HTTP server on loopback
// in the harness's process that reads the request and answers 200 "ok",
// like envoy.yaml's direct_response. It counts what it receives.
type upstream struct {
	addr               string
	srv                *http.Server
	hits, totp, method atomic.Uint64
	inflight           atomic.Int64
	// The counters at the last call of counts.
	lastHits, lastTOTP, lastMethod uint64
}

func startUpstream() (*upstream, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{addr: l.Addr().String()}
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = u.srv.Serve(l) }()
	return u, nil
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.inflight.Add(1)
	defer u.inflight.Add(-1)
	_, _ = io.Copy(io.Discard, r.Body)
	u.hits.Add(1)
	if v := r.Header.Values("X-Mfa-Method"); len(v) > 0 {
		u.method.Add(1)
		if len(v) == 1 && v[0] == "totp" {
			u.totp.Add(1)
		}
		w.Header()[upstreamMethodHeader] = []string{strings.Join(v, ",")}
	}
	w.Header()["Content-Type"] = []string{"text/plain"}
	_, _ = io.WriteString(w, "ok\n")
}

// quiesce waits (at most 5 s) until no request is in flight and none has
// arrived for 200 ms, so that the requests of a finished run are not
// counted in the next one.
func (u *upstream) quiesce() {
	deadline := time.Now().Add(5 * time.Second)
	last := u.hits.Load()
	stable := time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		h := u.hits.Load()
		if h != last || u.inflight.Load() != 0 {
			last, stable = h, time.Now()
			continue
		}
		if time.Since(stable) >= 200*time.Millisecond {
			return
		}
	}
}

// counts returns the counters since the last call.
func (u *upstream) counts() (hits, totp, method uint64) {
	h, t, m := u.hits.Load(), u.totp.Load(), u.method.Load()
	hits, totp, method = h-u.lastHits, t-u.lastTOTP, m-u.lastMethod
	u.lastHits, u.lastTOTP, u.lastMethod = h, t, m
	return hits, totp, method
}

func (u *upstream) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = u.srv.Shutdown(ctx)
}

// ProxyResult is one proxy stage: the HTTP mixes sent through a real proxy
// with wrk, to three front ends of the same proxy process.
type ProxyResult struct {
	Proxy   string // "caddy" or "envoy"
	Version string
	WRK     string // wrk's version
	// Targets name the front ends, in the order of ProxyMix.Runs: the proxy
	// alone, the proxy asking the no-op baseline, the proxy asking mfa-authz.
	Targets [3]string
	Mixes   []ProxyMix
}

// ProxyMix is one HTTP mix measured through the three front ends.
type ProxyMix struct {
	Mix  Mix
	Runs [3]WRKMeasurement // as ProxyResult.Targets
	// Fixed are the fixed-rate runs (vegeta), as Runs; empty without
	// Options.Vegeta.
	Fixed []RateMeasurement
	// Verified counts, by kind, the answers through the front end asking
	// mfa-authz that were checked before and after the runs (the other
	// front ends' answers are checked too).
	Verified map[Kind]int
}

// The front ends of a proxy stage, in table order.
const (
	frontPlain = iota // the proxy alone
	frontNoop         // the proxy asking the no-op baseline
	frontMFA          // the proxy asking mfa-authz
)

// proxyStage is a started proxy with its three front ends.
type proxyStage struct {
	name, version string
	p             *proc
	urls          [3]string // base URLs, http://127.0.0.1:port
	token         func(user string) string
}

// runProxyStage verifies every request of each mix through every front
// end, drives each front end with wrk for each mix, and verifies again.
func runProxyStage(ctx context.Context, o Options, st *proxyStage, up *upstream, mixes []Mix, work string, logf func(string, ...any)) (*ProxyResult, error) {
	wv, err := wrkVersion(ctx, o.WRK)
	if err != nil {
		return nil, err
	}
	pr := &ProxyResult{Proxy: st.name, Version: st.version, WRK: wv,
		Targets: [3]string{st.name, st.name + "+noop", st.name + "+mfa-authz"}}
	client := &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	scripts := make([]string, len(mixes))
	for i, m := range mixes {
		pm := ProxyMix{Mix: m, Verified: map[Kind]int{}}
		reqs := httpRequests(m, st.token)
		scripts[i] = filepath.Join(work, st.name+"-"+m.Name+".lua")
		if err := writeFile(scripts[i], wrkScript(reqs)); err != nil {
			return nil, err
		}
		if err := verifyHTTP(ctx, client, st, pr, &pm, reqs); err != nil {
			return nil, st.p.withLog(fmt.Errorf("through %s, before the runs: %w", st.name, err))
		}
		pr.Mixes = append(pr.Mixes, pm)
	}
	for i := range pr.Mixes {
		pm := &pr.Mixes[i]
		// Rotate which front end goes first, as the gRPC runs alternate.
		for k := range 3 {
			f := (i + k) % 3
			target := pr.Targets[f]
			logf("mix %-12s via %-15s: %s, wrk %d threads, %d connections", pm.Mix.Name, target, time.Duration(wrkSeconds(o.Duration))*time.Second,
				min(o.HTTPThreads, o.Concurrency), o.Concurrency)
			up.quiesce()
			up.counts()
			m, err := runWRK(ctx, o, scripts[i], st.urls[f]+"/", filepath.Join(o.ReportDir, st.name+"-"+pm.Mix.Name+"-"+strings.ReplaceAll(target, "+", "-")+".wrk.txt"))
			if err != nil {
				return nil, st.p.withLog(err)
			}
			up.quiesce()
			m.Target = target
			m.Denied = deniedRun(pm.Mix, f)
			m.UpstreamHits, m.UpstreamTOTP, m.UpstreamMethod = up.counts()
			if err := checkUpstream(pm.Mix, f, m); err != nil {
				return nil, st.p.withLog(fmt.Errorf("mix %s via %s: %w", pm.Mix.Name, target, err))
			}
			pm.Runs[f] = *m
		}
		if o.Vegeta != "" {
			if err := runFixedRate(ctx, o, st, up, pr, pm, work, logf); err != nil {
				return nil, err
			}
		}
	}
	for i := range pr.Mixes {
		pm := &pr.Mixes[i]
		if err := verifyHTTP(ctx, client, st, pr, pm, httpRequests(pm.Mix, st.token)); err != nil {
			return nil, st.p.withLog(fmt.Errorf("through %s, after the runs: %w", st.name, err))
		}
	}
	if st.p.exited() {
		return nil, st.p.withLog(fmt.Errorf("%s exited during the run", st.name))
	}
	return pr, nil
}

// runFixedRate sends the mix at one fixed rate through each front end with
// vegeta, checking every answer's status and what the upstream received.
// With o.FixedRepeats > 1 the three front ends take turns that many times
// (a different one first each round), and each keeps the run with its
// median p99: one stall of a shared 2-core machine then moves no figure.
func runFixedRate(ctx context.Context, o Options, st *proxyStage, up *upstream, pr *ProxyResult, pm *ProxyMix, work string, logf func(string, ...any)) error {
	rate := fixedRate(o, *pm)
	reqs := httpRequests(pm.Mix, st.token)
	repeats := max(1, o.FixedRepeats)
	runs := make([][]RateMeasurement, 3)
	for round := range repeats {
		for k := range 3 {
			f := (round + k) % 3
			m, err := fixedRun(ctx, o, st, up, pr, pm, f, rate, round, reqs, work, logf)
			if err != nil {
				return err
			}
			runs[f] = append(runs[f], *m)
		}
	}
	pm.Fixed = make([]RateMeasurement, 3)
	for f, rs := range runs {
		slices.SortFunc(rs, func(a, b RateMeasurement) int { return int(a.P99 - b.P99) })
		pm.Fixed[f] = rs[len(rs)/2]
	}
	return nil
}

// fixedRun is one fixed-rate run of the mix through front end f.
func fixedRun(ctx context.Context, o Options, st *proxyStage, up *upstream, pr *ProxyResult, pm *ProxyMix, f int, rate float64, round int, reqs []HTTPRequest, work string, logf func(string, ...any)) (*RateMeasurement, error) {
	target := pr.Targets[f]
	name := st.name + "-" + pm.Mix.Name + "-" + strings.ReplaceAll(target, "+", "-")
	if round > 0 {
		name += fmt.Sprintf("-%d", round+1)
	}
	targets, err := vegetaTargets(reqs, st.urls[f], work, name)
	if err != nil {
		return nil, err
	}
	logf("mix %-12s via %-15s: fixed rate %.0f/s for %s", pm.Mix.Name, target, rate, time.Duration(wrkSeconds(o.Duration))*time.Second)
	expected := http.StatusOK
	if deniedRun(pm.Mix, f) {
		expected = http.StatusForbidden
	}
	up.quiesce()
	up.counts()
	m, err := runVegeta(ctx, o, targets, rate, expected, filepath.Join(o.ReportDir, name+".vegeta.json"))
	if err != nil {
		return nil, st.p.withLog(err)
	}
	up.quiesce()
	hits, totp, _ := up.counts()
	m.Target = target
	switch {
	case m.Unexpected > 0:
		return nil, st.p.withLog(fmt.Errorf("mix %s via %s at %.0f/s: %d answers not %d: %v", pm.Mix.Name, target, rate, m.Unexpected, expected, m.Statuses))
	case expected == http.StatusForbidden && hits != 0:
		return nil, fmt.Errorf("mix %s via %s at %.0f/s: %d denied requests reached the upstream", pm.Mix.Name, target, rate, hits)
	case expected == http.StatusOK && hits < m.Requests:
		return nil, fmt.Errorf("mix %s via %s at %.0f/s: %d answers, the upstream received %d", pm.Mix.Name, target, rate, m.Requests, hits)
	case f == frontMFA && pm.Mix.Count(Session) == len(pm.Mix.Entries) && totp < m.Requests:
		return nil, fmt.Errorf("mix %s via %s at %.0f/s: X-Mfa-Method: totp on %d of %d requests", pm.Mix.Name, target, rate, totp, m.Requests)
	}
	return m, nil
}

// deniedRun reports whether every request of the mix through front end f
// must be denied: missing codes through the front end asking mfa-authz.
func deniedRun(m Mix, f int) bool {
	return f == frontMFA && m.Count(Missing) == len(m.Entries)
}

// checkUpstream checks what the upstream received during a run: every
// response wrk counted came from it, and the factor reached it exactly on
// cached-session requests through mfa-authz. Errors themselves are the
// caller's to report, with the table.
func checkUpstream(m Mix, front int, w *WRKMeasurement) error {
	if w.Errors() > 0 {
		return nil
	}
	if w.Denied {
		if w.UpstreamHits != 0 {
			return fmt.Errorf("%d denied requests reached the upstream", w.UpstreamHits)
		}
		return nil
	}
	if w.UpstreamHits < w.Requests {
		return fmt.Errorf("%d responses without error, but the upstream received only %d requests", w.Requests, w.UpstreamHits)
	}
	if front == frontMFA && m.Count(Session) == len(m.Entries) {
		if w.UpstreamTOTP < w.Requests || w.UpstreamMethod != w.UpstreamTOTP {
			return fmt.Errorf("X-Mfa-Method: totp reached the upstream on %d of %d requests (%d with any X-Mfa-Method), want all",
				w.UpstreamTOTP, w.UpstreamHits, w.UpstreamMethod)
		}
	} else if m.Count(Session) == 0 && w.UpstreamMethod != 0 {
		return fmt.Errorf("X-Mfa-Method reached the upstream on %d requests of an unprotected mix", w.UpstreamMethod)
	}
	return nil
}

// verifyHTTP sends every request once through every front end: each must
// be answered 200 by the upstream, which must have received X-Mfa-Method:
// totp on cached-session requests through mfa-authz and no X-Mfa-Method
// otherwise.
func verifyHTTP(ctx context.Context, c *http.Client, st *proxyStage, pr *ProxyResult, pm *ProxyMix, reqs []HTTPRequest) error {
	for f, base := range st.urls {
		for i, r := range reqs {
			want := ""
			if f == frontMFA && r.Kind == Session {
				want = "totp"
			}
			err := sendHTTP(ctx, c, base, r, want, f == frontMFA && r.Kind == Missing)
			if err != nil {
				return fmt.Errorf("mix %s, request %d (%s %s, %s) via %s: %w", pm.Mix.Name, i, r.Method, r.Path, r.Kind, pr.Targets[f], err)
			}
			if f == frontMFA {
				pm.Verified[r.Kind]++
			}
		}
	}
	return nil
}

// sendHTTP sends r through the front end at base and checks the answer:
// the upstream's 200 (with wantMethod echoed), or when denied, the glue
// profile's 403 for a missing code, from mfa-authz, not the upstream.
func sendHTTP(ctx context.Context, c *http.Client, base string, r HTTPRequest, wantMethod string, denied bool) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(rctx, r.Method, base+r.Path, body)
	if err != nil {
		return err
	}
	for _, h := range r.Header {
		if h[0] == "Host" {
			req.Host = h[1]
		} else {
			req.Header.Add(h[0], h[1])
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if denied {
		if resp.StatusCode != http.StatusForbidden || string(b) != missingCodeBody || resp.Header.Get(upstreamMethodHeader) != "" {
			return fmt.Errorf("got %s %q, want mfa-authz's 403 %s", resp.Status, b, missingCodeBody)
		}
		return nil
	}
	if resp.StatusCode != http.StatusOK || string(b) != "ok\n" {
		return fmt.Errorf("got %s %q, want the upstream's 200 \"ok\"", resp.Status, b)
	}
	if got := resp.Header.Get(upstreamMethodHeader); got != wantMethod {
		return fmt.Errorf("upstream received X-Mfa-Method %q, want %q", got, wantMethod)
	}
	return nil
}

// waitHTTP waits (at most timeout) until url answers with status want, or
// with any status when want is 0.
func waitHTTP(ctx context.Context, p *proc, url string, want int, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return p.withLog(fmt.Errorf("%s exited before answering %s", p.name, url))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if want == 0 || resp.StatusCode == want {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return p.withLog(fmt.Errorf("%s did not answer %s within %s: %v", p.name, url, timeout, last))
}

// httpMixes returns the HTTP mixes among the run's, in the run's order.
func httpMixes(mixes []Mix) []Mix {
	var out []Mix
	for _, m := range mixes {
		if slices.Contains(HTTPMixNames, m.Name) {
			out = append(out, m)
		}
	}
	return out
}

// writeProxyTable prints one proxy stage like the gRPC table, with the
// mfa-authz front end's figures as multiples of the proxy alone and of the
// proxy asking the no-op baseline.
func writeProxyTable(w io.Writer, o Options, pr ProxyResult) {
	fmt.Fprintf(w, "\nThrough %s %s, HTTP/1.1 on loopback to an upstream answering 200: %s per run, %s, %d threads, %d connections\n\n",
		pr.Proxy, pr.Version, time.Duration(wrkSeconds(o.Duration))*time.Second, pr.WRK, min(o.HTTPThreads, o.Concurrency), o.Concurrency)
	const row = "%-13s %-18s %9s %7s %9s %8s %8s\n"
	fmt.Fprintf(w, row, "mix", "front end", "requests", "errors", "RPS", "p50 ms", "p99 ms")
	for _, pm := range pr.Mixes {
		name := pm.Mix.Name
		for _, m := range pm.Runs {
			fmt.Fprintf(w, row, name, m.Target, fmt.Sprint(m.Requests), fmt.Sprint(m.Errors()), fmt.Sprintf("%.0f", m.RPS),
				fmt.Sprintf("%.3f", ms(m.P50)), fmt.Sprintf("%.3f", ms(m.P99)))
			name = ""
		}
		mfa := pm.Runs[frontMFA]
		for _, f := range []int{frontPlain, frontNoop} {
			b := pm.Runs[f]
			fmt.Fprintf(w, row, "", "ratio vs "+strings.TrimPrefix(pr.Targets[f], pr.Proxy+"+"), "", "",
				fmt.Sprintf("%.2fx", ratio(mfa.RPS, b.RPS)), fmt.Sprintf("%.2fx", ratio(ms(mfa.P50), ms(b.P50))),
				fmt.Sprintf("%.2fx", ratio(ms(mfa.P99), ms(b.P99))))
		}
	}
	if len(pr.Mixes) > 0 && len(pr.Mixes[0].Fixed) == 3 {
		fmt.Fprintf(w, "\nThe same at a fixed rate (vegeta, open loop: requests are sent on time whether or not earlier ones were answered; of %d interleaved runs per front end, the one with the median p99):\n\n", max(1, o.FixedRepeats))
		const frow = "%-13s %-18s %8s %9s %8s %8s %8s\n"
		fmt.Fprintf(w, frow, "mix", "front end", "rate/s", "requests", "p50 ms", "p99 ms", "max ms")
		for _, pm := range pr.Mixes {
			name := pm.Mix.Name
			for _, m := range pm.Fixed {
				fmt.Fprintf(w, frow, name, m.Target, fmt.Sprintf("%.0f", m.Rate), fmt.Sprint(m.Requests),
					fmt.Sprintf("%.3f", ms(m.P50)), fmt.Sprintf("%.3f", ms(m.P99)), fmt.Sprintf("%.3f", ms(m.Max)))
				name = ""
			}
			mfa, noop := pm.Fixed[frontMFA], pm.Fixed[frontNoop]
			fmt.Fprintf(w, frow, "", "ratio vs noop", "", "", fmt.Sprintf("%.2fx", ratio(ms(mfa.P50), ms(noop.P50))),
				fmt.Sprintf("%.2fx", ratio(ms(mfa.P99), ms(noop.P99))), fmt.Sprintf("%.2fx", ratio(ms(mfa.Max), ms(noop.Max))))
		}
	}
	fmt.Fprintf(w, "\n%s: %s alone (no auth); %s: asking the no-op baseline first (200 to every check); %s: asking mfa-authz first.\n",
		pr.Targets[frontPlain], pr.Proxy, pr.Targets[frontNoop], pr.Targets[frontMFA])
	fmt.Fprintf(w, "ratio = %s / the named front end. errors = socket errors plus responses other than the expected one: 200 from the upstream, or for missing-code via %s the 403 denial.\n", pr.Targets[frontMFA], pr.Targets[frontMFA])
	var mixes []string
	for _, pm := range pr.Mixes {
		kinds := make([]string, 0, len(pm.Verified))
		for k, n := range pm.Verified {
			kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
		}
		slices.Sort(kinds)
		mixes = append(mixes, fmt.Sprintf("%s (%s)", pm.Mix.Name, strings.Join(kinds, ", ")))
	}
	fmt.Fprintf(w, "answers via %s verified before and after the runs: %s; the upstream received X-Mfa-Method: totp on every session request via %s during the runs\n",
		pr.Targets[frontMFA], strings.Join(mixes, "; "), pr.Targets[frontMFA])
}

func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o644)
}
