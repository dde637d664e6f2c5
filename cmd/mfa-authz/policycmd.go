package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/policy"
)

const policySynopsis = "policy check --config FILE | policy explain --config FILE [--host HOST] METHOD URL"

func policyCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprintf(stderr, "Usage: mfa-authz %s\n", policySynopsis)
		if len(args) == 0 {
			return usageErr("policy: name a subcommand: check or explain")
		}
		return nil
	}
	switch args[0] {
	case "check":
		return policyCheck(args[1:], stdout, stderr)
	case "explain":
		return policyExplain(args[1:], stdout, stderr)
	default:
		return usageErr("policy: unknown subcommand %q (want check or explain)", args[0])
	}
}

func loadPolicy(path string) (*config.Config, *policy.Policy, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	pol, err := policy.Compile(cfg.Policy)
	return cfg, pol, err
}

func policyCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy check", "policy check --config FILE", stderr)
	cfgPath := fs.String("config", "", "config file (YAML); required")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		return usageErr("policy check: --config FILE is required and takes no arguments")
	}
	cfg, pol, err := loadPolicy(*cfgPath)
	if err != nil {
		return err
	}
	anon := "deny"
	if pol.AnonymousAllowed() {
		anon = "allow"
	}
	fmt.Fprintf(stdout, "policy OK: %d rules, anonymous=%s, case_insensitive=%t, grace_period=%s\n",
		len(pol.Rules()), anon, pol.CaseInsensitive(), *cfg.MFA.GracePeriod)
	for _, r := range pol.Rules() {
		fmt.Fprintf(stdout, "  %s\n", r)
	}
	return nil
}

func policyExplain(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy explain", "policy explain --config FILE [--host HOST] METHOD URL", stderr)
	cfgPath := fs.String("config", "", "config file (YAML); required")
	host := fs.String("host", "", "request host (taken from URL when it is absolute)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return usageErr("policy explain: --config FILE is required")
	}
	if fs.NArg() != 2 {
		return usageErr("policy explain: want METHOD URL, got %d arguments", fs.NArg())
	}
	method, target := fs.Arg(0), fs.Arg(1)
	if *host == "" && (strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://")) {
		if u, err := url.Parse(target); err == nil {
			*host = u.Host
		}
	}
	cfg, pol, err := loadPolicy(*cfgPath)
	if err != nil {
		return err
	}
	ex := pol.Explain(method, *host, target)
	fmt.Fprintf(stdout, "request:  %s %s (host %q)\nreadings:\n", strings.ToUpper(method), target, *host)
	for _, r := range ex.Readings {
		fmt.Fprintf(stdout, "  %s\n", r)
	}
	switch {
	case ex.Rule == nil:
		fmt.Fprintln(stdout, "decision: unprotected (no rule matches)")
	case !ex.Rule.MFARequired:
		fmt.Fprintf(stdout, "decision: unprotected (exception) by %s\n", ex.Rule)
	default:
		grace := *cfg.MFA.GracePeriod
		if ex.Rule.HasGrace {
			grace = ex.Rule.Grace
		}
		fmt.Fprintf(stdout, "decision: MFA required by %s (grace %s)\n", ex.Rule, grace)
	}
	return nil
}
