package authz

import (
	"strings"

	"github.com/mfa-authz/mfa-authz/policy"
)

// Headers some frameworks behind the proxy honour in place of the request
// line's target or the Host (IIS URL Rewrite and Symfony's IIS support,
// Spring's ForwardedHeaderFilter, Symfony and Laravel behind trusted
// proxies, RFC 7239). A client can send any of them. The shipped Envoy
// files remove them before anything reads them; where they still reach
// mfa-authz, the request is matched under each target and host they name
// as well, and the strictest rule wins.
var (
	pathOverrideHeaders = []string{"x-original-url", "x-rewrite-url"}
	hostOverrideHeaders = []string{"x-forwarded-host"}
	overrideHeaders     = []string{"x-original-url", "x-rewrite-url", "x-forwarded-prefix", "x-forwarded-host", "forwarded"}
)

// unreadablePath is longer than any path policy.Match reads: Match then
// decides as if every rule's path matched (the strictest rule for the host
// and method). It stands for an override whose value cannot be known, such
// as one of several copies of a header the transport did not join.
var unreadablePath = "/" + strings.Repeat("x", 9<<10)

// matchOverrides returns the strictest rule matching r under the targets
// and hosts its override headers name, nil when it carries none.
func (e *Engine) matchOverrides(pol *policy.Policy, method string, r *Request) *policy.Rule {
	if r.Header == nil || !hasOverride(r.Header) {
		return nil
	}
	var rule *policy.Rule
	paths := []string{r.Path}
	for _, h := range pathOverrideHeaders {
		switch v, n := lookup(r.Header, h); {
		case n > 1:
			paths = append(paths, unreadablePath)
		case n == 1:
			paths = append(paths, overrideValues(v)...)
		}
	}
	switch v, n := lookup(r.Header, "x-forwarded-prefix"); {
	case n > 1:
		paths = append(paths, unreadablePath)
	case n == 1:
		for _, prefix := range overrideValues(v) {
			paths = append(paths, strings.TrimRight(prefix, "/")+r.Path)
		}
	}
	hosts := []string{r.Host}
	for _, h := range hostOverrideHeaders {
		switch v, n := lookup(r.Header, h); {
		case n > 1:
			hosts = append(hosts, "")
		case n == 1:
			hosts = append(hosts, overrideValues(v)...)
		}
	}
	switch v, n := lookup(r.Header, "forwarded"); {
	case n > 1:
		hosts = append(hosts, "")
	case n == 1:
		hosts = append(hosts, forwardedHosts(v)...)
	}
	for _, h := range hosts {
		for _, p := range paths {
			rule = policy.Stricter(rule, pol.Match(method, h, p))
		}
	}
	return rule
}

// hasOverride reports whether h holds any override header.
func hasOverride(h Header) bool {
	for _, name := range overrideHeaders {
		if _, n := lookup(h, name); n > 0 {
			return true
		}
	}
	return false
}

// overrideValues returns a header value whole and, when it holds commas
// (a proxy's list, or repeated headers joined), each element trimmed.
func overrideValues(v string) []string {
	out := []string{v}
	if strings.Contains(v, ",") {
		for _, p := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(p))
		}
	}
	return out
}

// forwardedHosts returns the host= parameters of an RFC 7239 Forwarded
// value, quoted or not, in every element.
func forwardedHosts(v string) []string {
	var hosts []string
	for _, elem := range strings.Split(v, ",") {
		for _, pair := range strings.Split(elem, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "host") {
				hosts = append(hosts, strings.Trim(strings.TrimSpace(val), `"`))
			}
		}
	}
	return hosts
}
