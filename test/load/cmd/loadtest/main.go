// Command loadtest runs mfa-authz's load harness (package load) and prints
// its table: per request mix, RPS, p50 and p99 of mfa-authz and of a no-op
// ext_authz baseline, and their ratio; then the same for the HTTP mixes
// through Caddy (and Envoy: bin/tools/envoy from `make test-deps`), driven with wrk.
// `make loadtest` runs it. It exits 1 if any request failed.
//
//	loadtest [--duration 10s] [--concurrency 20] [--connections 2]
//	         [--mixes unprotected,session,missing-code,mixed]
//	         [--caddy=true] [--envoy=true] [--wrk PATH] [--http-threads 2]
//	         [--ghz PATH] [--ghz-html PATH] [--reports DIR]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mfa-authz/mfa-authz/test/envoytest"
	"github.com/mfa-authz/mfa-authz/test/load"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 10*time.Second, "length of each ghz run (one per mix and server)")
	concurrency := fs.Int("concurrency", 20, "ghz workers")
	connections := fs.Int("connections", 2, "HTTP/2 connections ghz spreads the workers over")
	mixes := fs.String("mixes", strings.Join(load.MixNames, ","), "comma-separated mixes to run")
	ghz := fs.String("ghz", "", "ghz binary (default $GHZ, bin/tools/ghz, or ghz on PATH)")
	ghzHTML := fs.String("ghz-html", "", "ghz JSON-to-HTML report converter (default $GHZ_HTML or bin/tools/ghz-html; none: JSON reports only)")
	reports := fs.String("reports", "", "report directory (default test/load/reports)")
	caddy := fs.Bool("caddy", true, "also send the HTTP mixes through Caddy (caddy and wrk on PATH: `make test-deps`)")
	envoy := fs.Bool("envoy", true, "also send them through Envoy with envoy/envoy.yaml, found as the tests find it ($ENVOY, bin/tools/envoy, PATH)")
	wrk := fs.String("wrk", "", "wrk binary (default wrk on PATH)")
	httpThreads := fs.Int("http-threads", 2, "wrk threads")
	vegeta := fs.String("vegeta", "", "vegeta binary for the fixed-rate runs (default $VEGETA, bin/tools/vegeta, or vegeta on PATH; none: no fixed-rate runs)")
	rate := fs.Int("rate", 0, "fixed-rate runs' requests per second (0: a quarter of the slowest front end's closed-loop RPS, per mix)")
	repeats := fs.Int("fixed-repeats", 3, "fixed-rate runs per front end and mix, interleaved; the median p99 is reported")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadtest: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	root, err := load.FindRoot()
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	if *ghz == "" {
		*ghz = load.FindGHZ(root)
	}
	if *ghz == "" {
		fmt.Fprintln(stderr, "loadtest: ghz not found: run `make tools` (installs the pinned ghz into bin/tools) or pass --ghz")
		return 1
	}
	if *ghzHTML == "" {
		*ghzHTML = load.FindGHZHTML(root)
	}
	if *reports != "" {
		if *reports, err = filepath.Abs(*reports); err != nil {
			fmt.Fprintf(stderr, "loadtest: %v\n", err)
			return 1
		}
	}
	var skipped []string
	var caddyBin, envoyBin string
	if *caddy {
		if caddyBin, err = exec.LookPath("caddy"); err != nil {
			fmt.Fprintln(stderr, "loadtest: caddy not on PATH: run `make test-deps` (Debian packages caddy and wrk), or pass --caddy=false (make loadtest LOAD_CADDY=false)")
			return 1
		}
	} else {
		skipped = append(skipped, "caddy: --caddy=false, Caddy stage skipped")
	}
	if *envoy {
		if envoyBin, err = envoytest.Find(root); err != nil {
			skipped = append(skipped, load.EnvoySkipped+": "+err.Error())
		}
	} else {
		skipped = append(skipped, "envoy: --envoy=false, Envoy stage skipped")
	}
	if (caddyBin != "" || envoyBin != "") && *wrk == "" {
		if *wrk, err = exec.LookPath("wrk"); err != nil {
			fmt.Fprintln(stderr, "loadtest: wrk not on PATH: run `make test-deps` (Debian package wrk), or pass --caddy=false (make loadtest LOAD_CADDY=false)")
			return 1
		}
	}
	if *vegeta == "" {
		*vegeta = load.FindVegeta(root)
	}
	if *vegeta == "" && (caddyBin != "" || envoyBin != "") {
		skipped = append(skipped, "fixed-rate runs skipped: vegeta not found; `make tools` installs it")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := load.Run(ctx, load.Options{
		Root:         root,
		GHZ:          *ghz,
		GHZHTML:      *ghzHTML,
		ReportDir:    *reports,
		Duration:     *duration,
		Concurrency:  *concurrency,
		Connections:  *connections,
		Mixes:        strings.Split(*mixes, ","),
		Caddy:        caddyBin,
		Envoy:        envoyBin,
		WRK:          *wrk,
		HTTPThreads:  *httpThreads,
		Vegeta:       *vegeta,
		Rate:         *rate,
		FixedRepeats: *repeats,
		Skipped:      skipped,
		Log:          stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	var table bytes.Buffer
	if err := load.WriteTable(&table, res); err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	stdout.Write(table.Bytes())
	summary := filepath.Join(res.Options.ReportDir, "summary.txt")
	if err := os.WriteFile(summary, table.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	var js bytes.Buffer
	if err := load.WriteJSON(&js, res); err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(res.Options.ReportDir, "summary.json"), js.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	for _, mr := range res.Mixes {
		for _, m := range []load.Measurement{mr.MFA, mr.Baseline} {
			if n := m.Failed(); n > 0 {
				fmt.Fprintf(stderr, "loadtest: mix %s on %s: %d calls without rpc status OK: %v %v\n", mr.Mix.Name, m.Target, n, m.Statuses, m.Errors)
				return 1
			}
		}
	}
	for _, pr := range res.Proxies {
		for _, pm := range pr.Mixes {
			for _, m := range pm.Runs {
				if n := m.Errors(); n > 0 {
					fmt.Fprintf(stderr, "loadtest: mix %s via %s: %d errors (%d responses with status >= 400; socket errors: connect %d, read %d, write %d, timeout %d): see %s\n",
						pm.Mix.Name, m.Target, n, m.Non2xx, m.Connect, m.Read, m.Write, m.Timeout, m.Report)
					return 1
				}
			}
		}
	}
	return 0
}
