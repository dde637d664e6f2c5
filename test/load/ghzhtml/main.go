// Command ghz-html renders a ghz JSON report as the HTML report ghz itself
// prints with --format html. ghz writes one format per run; the load
// harness asks it for JSON, which it reads, and renders the HTML from that
// same report with ghz's own printer, so both describe the same run.
//
//	ghz-html REPORT.json REPORT.html
//
// It is a module of its own so that ghz stays out of mfa-authz's go.mod;
// `make tools` builds it into bin/tools with the ghz version pinned here.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/bojand/ghz/printer"
	"github.com/bojand/ghz/runner"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: ghz-html REPORT.json REPORT.html")
		os.Exit(2)
	}
	if err := convert(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "ghz-html: %v\n", err)
		os.Exit(1)
	}
}

func convert(in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var r runner.Report
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	p := printer.ReportPrinter{Out: f, Report: &r}
	if err := p.Print("html"); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", out, err)
	}
	return f.Close()
}
