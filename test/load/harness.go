// Package load is mfa-authz's load harness. It builds the real mfa-authz
// binary and a no-op ext_authz server (test/load/baseline), starts both on
// free loopback ports, enrolls users through the CLI with the example
// config and a temporary store, verifies one user with a real TOTP code,
// and drives the gRPC Check API of both servers with ghz, one run per
// request mix and server. It prints RPS and latency percentiles of
// mfa-authz, of the baseline, and their ratio.
//
// Proxy stages then send the HTTP mixes (unprotected, session) with wrk
// through a real Caddy and, when envoy is on PATH, a real Envoy (from
// envoy/envoy.yaml), each with three front ends on one upstream: the proxy
// alone, the proxy asking the no-op baseline, and the proxy asking
// mfa-authz (Caddy's forward_auth to /forward-auth, Envoy's gRPC
// ext_authz).
//
// `make loadtest` runs it with the default settings (cmd/loadtest);
// `make loadtest-ci` runs TestLoad, a short run with assertions.
//
// All traffic goes to 127.0.0.1; every run is bounded by its duration.
package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/pquerna/otp"
	otptotp "github.com/pquerna/otp/totp"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mfa-authz/mfa-authz/test/envoytest"
)

// Options configure a harness run. Zero values take the defaults.
type Options struct {
	// Root is the module root; found from the working directory when empty.
	Root string
	// Config is the mfa-authz config the run serves, relative to Root
	// (default mfa-authz.example.yaml). Its listen addresses, store paths
	// and log format are replaced; everything else is served as written.
	Config string
	// GHZ is the ghz binary (required).
	GHZ string
	// GHZHTML renders a ghz JSON report as ghz's HTML report; optional.
	GHZHTML string
	// ReportDir receives the ghz reports, the data files and the summary
	// (default Root/test/load/reports).
	ReportDir string
	// Duration of each ghz run (default 10s).
	Duration time.Duration
	// Concurrency is ghz's number of workers (default 20).
	Concurrency int
	// Connections is ghz's number of HTTP/2 connections (default 2, as an
	// Envoy with two worker threads keeps towards its ext_authz cluster).
	Connections int
	// Mixes to run, by name (default MixNames). The proxy stages run those
	// of them that are HTTPMixNames.
	Mixes []string
	// Caddy is the caddy binary of the Caddy stage; "" skips the stage.
	Caddy string
	// Envoy is the envoy binary of the Envoy stage; "" skips the stage.
	Envoy string
	// WRK is the wrk binary the proxy stages use; required with Caddy or
	// Envoy.
	WRK string
	// HTTPThreads is wrk's number of threads (default 2); wrk opens
	// Concurrency connections.
	HTTPThreads int
	// Vegeta is the vegeta binary for the proxy stages' fixed-rate runs;
	// "" runs none.
	Vegeta string
	// Rate is the fixed-rate runs' requests per second; 0 takes a quarter
	// of the closed-loop RPS of the slowest front end of each mix (fixedRate).
	Rate int
	// FixedRepeats is how many fixed-rate runs each front end gets per mix,
	// interleaved; the one with the median p99 is reported (default 1).
	FixedRepeats int
	// Skipped are lines saying which stages the caller left out and why;
	// the table prints them.
	Skipped []string
	// Log receives progress lines (default io.Discard).
	Log io.Writer
}

// Measurement is one ghz run's outcome, from its JSON report.
type Measurement struct {
	Target    string
	Report    string // the ghz JSON report
	EndReason string
	Count     uint64
	RPS       float64
	P50, P99  time.Duration
	Average   time.Duration
	Errors    map[string]int // errorDistribution
	Statuses  map[string]int // statusCodeDistribution: rpc status names
}

// MixResult is one mix measured on both servers.
type MixResult struct {
	Mix      Mix
	Data     string // the ghz data file
	MFA      Measurement
	Baseline Measurement
	// Verified counts the answers that were checked against the expected
	// kind, on mfa-authz, before and after the runs, by kind.
	Verified map[Kind]int
}

// Result is a whole run.
type Result struct {
	Options   Options
	GHZ       string // ghz --version
	Mixes     []MixResult
	StartedAt time.Time
	Took      time.Duration
	// LoadBefore and LoadAfter are the machine's load averages (1, 5 and
	// 15 minutes) when the runs began and ended, "" where the OS does not
	// tell: other work on the machine skews the figures.
	LoadBefore, LoadAfter string
	// Proxies are the proxy stages' results, in the order run (Caddy, Envoy).
	Proxies []ProxyResult
}

func (o *Options) defaults() error {
	if o.Root == "" {
		root, err := FindRoot()
		if err != nil {
			return err
		}
		o.Root = root
	}
	if o.Config == "" {
		o.Config = "mfa-authz.example.yaml"
	}
	if o.GHZ == "" {
		return errors.New("no ghz binary given")
	}
	if o.ReportDir == "" {
		o.ReportDir = filepath.Join(o.Root, "test", "load", "reports")
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 20
	}
	if o.Connections <= 0 {
		o.Connections = 2
	}
	if o.Connections > o.Concurrency {
		o.Connections = o.Concurrency
	}
	if len(o.Mixes) == 0 {
		o.Mixes = MixNames
	}
	if o.HTTPThreads <= 0 {
		o.HTTPThreads = 2
	}
	if (o.Caddy != "" || o.Envoy != "") && o.WRK == "" {
		return errors.New("no wrk binary given for the proxy stages")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// FindRoot returns the directory of mfa-authz's go.mod at or above the
// working directory.
func FindRoot() (string, error) { return envoytest.FindRoot() }

// FindGHZ returns the ghz binary: $GHZ, else the Makefile's bin/tools/ghz,
// else ghz on PATH; "" when there is none.
func FindGHZ(root string) string {
	if p := os.Getenv("GHZ"); p != "" {
		return p
	}
	if p := filepath.Join(root, "bin", "tools", "ghz"); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath("ghz"); err == nil {
		return p
	}
	return ""
}

// FindVegeta returns the vegeta binary: $VEGETA, else the Makefile's
// bin/tools/vegeta, else vegeta on PATH; "" when there is none.
func FindVegeta(root string) string {
	if p := os.Getenv("VEGETA"); p != "" {
		return p
	}
	if p := filepath.Join(root, "bin", "tools", "vegeta"); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath("vegeta"); err == nil {
		return p
	}
	return ""
}

// FindGHZHTML returns the report converter the Makefile builds, or "".
func FindGHZHTML(root string) string {
	if p := os.Getenv("GHZ_HTML"); p != "" {
		return p
	}
	if p := filepath.Join(root, "bin", "tools", "ghz-html"); isExecutable(p) {
		return p
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Run builds, starts, measures and stops. It returns an error if any step
// fails, if a server answers a request other than documented, or if a ghz
// run fails.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	res := &Result{Options: o, StartedAt: time.Now()}
	logf := func(format string, args ...any) { fmt.Fprintf(o.Log, "loadtest: "+format+"\n", args...) }

	all := map[string]Mix{}
	for _, m := range Mixes() {
		all[m.Name] = m
	}
	var mixes []Mix
	for _, name := range o.Mixes {
		m, ok := all[name]
		if !ok {
			return nil, fmt.Errorf("unknown mix %q (have %s)", name, strings.Join(MixNames, ", "))
		}
		mixes = append(mixes, m)
	}

	out, err := exec.CommandContext(ctx, o.GHZ, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ghz %s --version: %v\n%s", o.GHZ, err, out)
	}
	res.GHZ = strings.TrimSpace(string(out))
	if err := os.MkdirAll(o.ReportDir, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "mfa-authz-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	logf("building mfa-authz and the baseline")
	mfaBin := filepath.Join(work, "mfa-authz")
	baseBin := filepath.Join(work, "baseline")
	for bin, pkg := range map[string]string{mfaBin: "./cmd/mfa-authz", baseBin: "./test/load/baseline"} {
		if err := goBuild(ctx, o.Root, bin, pkg); err != nil {
			return nil, err
		}
	}

	cfg, err := writeConfig(o, work, len(mixes))
	if err != nil {
		return nil, err
	}
	logf("config: %s with a temporary store, gRPC %s, HTTP %s", o.Config, cfg.grpc, cfg.http)
	uri, err := enroll(ctx, mfaBin, cfg.path, VerifiedUser)
	if err != nil {
		return nil, err
	}
	if _, err := enroll(ctx, mfaBin, cfg.path, UnverifiedUser); err != nil {
		return nil, err
	}

	mfa, err := start(ctx, "mfa-authz", filepath.Join(work, "mfa-authz.log"), mfaBin, "serve", "--config", cfg.path)
	if err != nil {
		return nil, err
	}
	defer mfa.stop()
	base, err := start(ctx, "baseline", filepath.Join(work, "baseline.log"), baseBin, "--addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer base.stop()
	baseAddr, err := base.waitLine("baseline serving on ", 10*time.Second)
	if err != nil {
		return nil, err
	}
	baseHTTP, err := base.waitLine("baseline http serving on ", 10*time.Second)
	if err != nil {
		return nil, err
	}
	mfaConn, err := dial(cfg.grpc)
	if err != nil {
		return nil, err
	}
	defer mfaConn.Close()
	baseConn, err := dial(baseAddr)
	if err != nil {
		return nil, err
	}
	defer baseConn.Close()
	if err := waitReady(ctx, mfa, mfaConn, "http://"+cfg.http+"/readyz"); err != nil {
		return nil, err
	}
	if err := waitReady(ctx, base, baseConn, ""); err != nil {
		return nil, err
	}
	logf("mfa-authz on %s, baseline on %s", cfg.grpc, baseAddr)

	mfaClient := authv3.NewAuthorizationClient(mfaConn)
	baseClient := authv3.NewAuthorizationClient(baseConn)
	if err := verifyUser(ctx, mfaClient, uri); err != nil {
		return nil, mfa.withLog(err)
	}
	logf("%s verified with a TOTP code: session cached", VerifiedUser)

	for _, m := range mixes {
		mr := MixResult{Mix: m, Data: filepath.Join(o.ReportDir, m.Name+".data.json"), Verified: map[Kind]int{}}
		if err := writeData(mr.Data, m); err != nil {
			return nil, err
		}
		if err := verifyMix(ctx, mfaClient, baseClient, &mr); err != nil {
			return nil, mfa.withLog(fmt.Errorf("before the runs: %w", err))
		}
		res.Mixes = append(res.Mixes, mr)
	}
	type target struct {
		name, addr string
		p          *proc
		into       *Measurement
	}
	res.LoadBefore = loadAverage()
	for i := range res.Mixes {
		mr := &res.Mixes[i]
		targets := []target{{"mfa-authz", cfg.grpc, mfa, &mr.MFA}, {"baseline", baseAddr, base, &mr.Baseline}}
		if i%2 == 1 {
			// Alternate which server goes first, so neither always runs
			// right after the other's load.
			targets[0], targets[1] = targets[1], targets[0]
		}
		for _, t := range targets {
			logf("mix %-12s on %-9s: %s, concurrency %d, %d connections", mr.Mix.Name, t.name, o.Duration, o.Concurrency, o.Connections)
			m, err := runGHZ(ctx, o, mr.Mix.Name, t.name, t.addr, mr.Data)
			if err != nil {
				return nil, t.p.withLog(err)
			}
			*t.into = *m
		}
	}
	if err := runProxies(ctx, o, res, work, mixes, cfg.http, cfg.grpc, baseHTTP, baseAddr, logf); err != nil {
		return nil, mfa.withLog(err)
	}
	res.LoadAfter = loadAverage()
	// The answers after the load must still be the documented ones: the
	// session survived, nothing locked the users out.
	for i := range res.Mixes {
		if err := verifyMix(ctx, mfaClient, baseClient, &res.Mixes[i]); err != nil {
			return nil, mfa.withLog(fmt.Errorf("after the runs: %w", err))
		}
	}
	for _, p := range []*proc{mfa, base} {
		if p.exited() {
			return nil, p.withLog(fmt.Errorf("%s exited during the run", p.name))
		}
	}
	res.Took = time.Since(res.StartedAt)
	return res, nil
}

// runProxies runs the Caddy stage and the Envoy stage, those of them that
// o enables, with one upstream for both.
func runProxies(ctx context.Context, o Options, res *Result, work string, mixes []Mix, mfaHTTP, mfaGRPC, baseHTTP, baseGRPC string, logf func(string, ...any)) error {
	hm := httpMixes(mixes)
	if o.Caddy == "" && o.Envoy == "" {
		return nil
	}
	if len(hm) == 0 {
		res.Options.Skipped = append(res.Options.Skipped, fmt.Sprintf("proxy stages: none of the mixes run is an HTTP mix (%s)", strings.Join(HTTPMixNames, ", ")))
		return nil
	}
	up, err := startUpstream()
	if err != nil {
		return err
	}
	defer up.close()
	type stage struct {
		bin   string
		start func() (*proxyStage, error)
	}
	for _, s := range []stage{
		{o.Caddy, func() (*proxyStage, error) { return startCaddy(ctx, o, work, baseHTTP, mfaHTTP, up.addr) }},
		{o.Envoy, func() (*proxyStage, error) { return startEnvoy(ctx, o, work, mfaGRPC, baseGRPC, up.addr) }},
	} {
		if s.bin == "" {
			continue
		}
		st, err := s.start()
		if err != nil {
			return err
		}
		logf("%s %s: front ends %s (alone), %s (no-op auth), %s (mfa-authz); upstream %s", st.name, st.version, st.urls[frontPlain], st.urls[frontNoop], st.urls[frontMFA], up.addr)
		pr, err := runProxyStage(ctx, o, st, up, hm, work, logf)
		st.p.stop()
		if err != nil {
			return err
		}
		res.Proxies = append(res.Proxies, *pr)
	}
	return nil
}

func goBuild(ctx context.Context, root, out, pkg string) error {
	// Built like test/e2e builds it, so that the two share the build cache.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

type runConfig struct {
	path, grpc, http string
}

// writeConfig writes o.Config with loopback listen addresses on free
// ports, a store in dir and JSON logs. A grace period too short for the
// whole run is lengthened, so the verified user's session lasts.
func writeConfig(o Options, dir string, mixes int) (*runConfig, error) {
	src := filepath.Join(o.Root, o.Config)
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	rc := &runConfig{path: filepath.Join(dir, "mfa-authz.yaml")}
	if rc.grpc, err = freePort(); err != nil {
		return nil, err
	}
	if rc.http, err = freePort(); err != nil {
		return nil, err
	}
	// The gRPC runs, and the proxy stages' (three front ends, two stages).
	need := time.Duration(2*mixes+2*3*len(HTTPMixNames))*(o.Duration+5*time.Second) + 5*time.Minute
	set := map[string]string{
		"server.grpc_address": rc.grpc,
		"server.http_address": rc.http,
		"storage.path":        filepath.Join(dir, "data", "store"),
		"storage.key_file":    filepath.Join(dir, "secrets", "store.key"),
		"log.format":          "json",
	}
	if g, ok := lookupYAML(&doc, "mfa", "grace_period"); !ok {
		set["mfa.grace_period"] = need.String()
	} else if d, err := time.ParseDuration(g); err != nil || d < need {
		set["mfa.grace_period"] = need.String()
	}
	for k, v := range set {
		if err := setYAML(&doc, v, strings.Split(k, ".")...); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", src, k, err)
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	return rc, os.WriteFile(rc.path, out, 0o600)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// lookupYAML returns the scalar at path in a YAML document.
func lookupYAML(doc *yaml.Node, path ...string) (string, bool) {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return "", false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return "", false
		}
		n = next
	}
	return n.Value, n.Kind == yaml.ScalarNode
}

// setYAML sets the scalar at path, creating mappings on the way.
func setYAML(doc *yaml.Node, value string, path ...string) error {
	if doc.Kind == 0 {
		doc.Kind = yaml.DocumentNode
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			doc.Content = []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}
		}
		doc = doc.Content[0]
	}
	n := doc
	for i, key := range path {
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s is not a mapping", strings.Join(path[:i], "."))
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				next = n.Content[j+1]
			}
		}
		last := i == len(path)-1
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			if last {
				next = &yaml.Node{Kind: yaml.ScalarNode}
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, next)
		}
		if last {
			*next = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
		}
		n = next
	}
	return nil
}

// enroll enrolls user's TOTP factor through the CLI and returns its URI.
func enroll(ctx context.Context, bin, cfg, user string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "enroll", "totp", "--user", user, "--config", cfg, "--output", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("mfa-authz enroll totp --user %s: %v\n%s", user, err, stderr.String())
	}
	var e struct {
		User, Secret, URI string
	}
	if err := json.Unmarshal(out, &e); err != nil || e.URI == "" {
		return "", fmt.Errorf("mfa-authz enroll totp --user %s: unexpected output %q (%v)", user, out, err)
	}
	return e.URI, nil
}

// verifyUser sends one protected request with the current TOTP code of
// the enrolled factor, which starts VerifiedUser's grace period.
func verifyUser(ctx context.Context, c authv3.AuthorizationClient, uri string) error {
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return err
	}
	alg := map[string]otp.Algorithm{"SHA1": otp.AlgorithmSHA1, "SHA256": otp.AlgorithmSHA256, "SHA512": otp.AlgorithmSHA512}
	a, ok := alg[strings.ToUpper(key.Algorithm().String())]
	if !ok {
		return fmt.Errorf("enrolled factor has unknown algorithm %s", key.Algorithm())
	}
	code, err := otptotp.GenerateCodeCustom(key.Secret(), time.Now(), otptotp.ValidateOpts{
		Period: uint(key.Period()), Digits: key.Digits(), Algorithm: a,
	})
	if err != nil {
		return err
	}
	req := envoyRequest(0, "POST", "/customer-password/DE--42", VerifiedUser)
	req.Attributes.Request.Http.Headers["x-mfa-code"] = code
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := c.Check(cctx, req)
	if err != nil {
		return fmt.Errorf("verifying %s: %w", VerifiedUser, err)
	}
	if err := expect(Session, resp, false); err != nil {
		return fmt.Errorf("verifying %s with a TOTP code: %w", VerifiedUser, err)
	}
	return nil
}

// verifyMix sends each request of the mix's data file, as ghz will, to
// both servers and checks every answer.
func verifyMix(ctx context.Context, mfa, base authv3.AuthorizationClient, mr *MixResult) error {
	reqs, err := readData(mr.Data)
	if err != nil {
		return err
	}
	if len(reqs) != len(mr.Mix.Entries) {
		return fmt.Errorf("%s: %d requests, want %d", mr.Data, len(reqs), len(mr.Mix.Entries))
	}
	for i, r := range reqs {
		k := mr.Mix.Entries[i].Kind
		for _, s := range []struct {
			c        authv3.AuthorizationClient
			baseline bool
		}{{mfa, false}, {base, true}} {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := s.c.Check(cctx, r)
			cancel()
			if err == nil {
				err = expect(k, resp, s.baseline)
			}
			if err != nil {
				who := "mfa-authz"
				if s.baseline {
					who = "baseline"
				}
				return fmt.Errorf("mix %s, request %d (%s %s, %s) on %s: %w", mr.Mix.Name, i,
					r.GetAttributes().GetRequest().GetHttp().GetMethod(), r.GetAttributes().GetRequest().GetHttp().GetPath(), k, who, err)
			}
			if !s.baseline {
				mr.Verified[k]++
			}
		}
	}
	return nil
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// waitReady waits (at most 15 s) for SERVING on gRPC health and, when
// readyURL is set, 200 from the HTTP readiness endpoint.
func waitReady(ctx context.Context, p *proc, conn *grpc.ClientConn, readyURL string) error {
	hc := healthpb.NewHealthClient(conn)
	httpc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return p.withLog(fmt.Errorf("%s exited before it was ready", p.name))
		}
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		switch {
		case err != nil:
			last = err
		case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
			last = fmt.Errorf("health %v", resp.GetStatus())
		case readyURL == "":
			return nil
		default:
			r, err := httpc.Get(readyURL)
			if err == nil {
				r.Body.Close()
				if r.StatusCode == http.StatusOK {
					return nil
				}
				err = fmt.Errorf("GET %s: %s", readyURL, r.Status)
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return p.withLog(fmt.Errorf("%s not ready within 15s: %v", p.name, last))
}

// proc is a started server process; its output goes to a log file.
type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

func start(ctx context.Context, name, logPath, bin string, args ...string) (*proc, error) {
	return startCmd(ctx, name, logPath, exec.Command(bin, args...))
}

// startCmd starts cmd, prepared by the caller, like start.
func startCmd(ctx context.Context, name, logPath string, cmd *exec.Cmd) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, log: logPath, done: make(chan struct{}), cmd: cmd}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			p.stop()
		case <-p.done:
		}
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, and kills the process if it has not exited 10 s later.
func (p *proc) stop() {
	p.once.Do(func() {
		if p.exited() {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// waitLine waits for a line starting with prefix in the process's output
// and returns the rest of it.
func (p *proc) waitLine(prefix string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if f, err := os.Open(p.log); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
					f.Close()
					return strings.TrimSpace(rest), nil
				}
			}
			f.Close()
		}
		if p.exited() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", p.withLog(fmt.Errorf("%s did not print %q within %s", p.name, prefix, timeout))
}

// withLog appends the last lines of the process's output to err.
func (p *proc) withLog(err error) error {
	data, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return fmt.Errorf("%w\n--- %s output (last lines) ---\n%s", err, p.name, strings.Join(lines, "\n"))
}

// cpus describes the machine for the summary.
func cpus() string {
	return fmt.Sprintf("%d CPUs (GOMAXPROCS %d)", runtime.NumCPU(), runtime.GOMAXPROCS(0))
}

// loadAverage returns the 1, 5 and 15 minute load averages from /proc, or
// "" where there is no /proc.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
