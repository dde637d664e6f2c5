package authz

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/mfa-authz/mfa-authz/authz/internal/httpsyntax"
	"github.com/mfa-authz/mfa-authz/policy"
)

// methodOverrideHeaders are the headers common frameworks honour to change
// a request's method (Symfony, Laravel, Rails, Express method-override,
// Spring's HiddenHttpMethodFilter reads the _method parameter).
var methodOverrideHeaders = []string{"x-http-method-override", "x-http-method", "x-method-override"}

// match returns the rule deciding r. When the request's own method is not
// protected but the path could be under another method, the methods a
// framework might substitute (override headers, a _method query parameter)
// are matched too, and the strictest answer wins.
func (e *Engine) match(pol *policy.Policy, r *Request) *policy.Rule {
	method := r.Method
	if !httpsyntax.IsToken(method) {
		// No server routes on a method that is not a token (" POST",
		// "POST\t"); one that trims it might read any: match every method.
		method = ""
	}
	rule := pol.Match(method, r.Host, r.Path)
	if rule != nil && rule.MFARequired {
		return rule
	}
	// What a framework behind the proxy may route on instead of the
	// request line and Host: the strictest rule of every reading wins.
	if rule = policy.Stricter(rule, e.matchOverrides(pol, method, r)); rule != nil && rule.MFARequired || !pol.MayProtect(r.Host, r.Path) {
		return rule
	}
	for _, h := range methodOverrideHeaders {
		switch v, n := lookup(r.Header, h); {
		case n > 1:
			// Only the first of repeated headers is visible here, and
			// frameworks differ in which one they honour: any method.
			rule = policy.Stricter(rule, pol.Match("", r.Host, r.Path))
		case n == 1:
			for _, m := range strings.Split(v, ",") {
				rule = policy.Stricter(rule, pol.Match(strings.TrimSpace(m), r.Host, r.Path))
			}
		}
	}
	if _, query, ok := strings.Cut(r.Path, "?"); ok {
		query, _, _ = strings.Cut(query, "#")
		rule = policy.Stricter(rule, matchMethodParams(pol, query, r))
	}
	// The same _method in a form body, when the transport sent the body
	// (Envoy's with_request_body).
	if len(r.Body) > 0 {
		ct, _ := lookup(r.Header, "content-type")
		switch ct = strings.ToLower(strings.TrimSpace(ct)); {
		case r.BodyTruncated && (strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/")):
			// A _method past the cut cannot be seen: any method.
			rule = policy.Stricter(rule, pol.Match("", r.Host, r.Path))
		case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
			rule = policy.Stricter(rule, matchMethodParams(pol, string(r.Body), r))
		case strings.HasPrefix(ct, "multipart/") && bytes.Contains(r.Body, []byte("method")):
			// PHP reads _method from multipart forms too; the parts are not
			// parsed here: any method.
			rule = policy.Stricter(rule, pol.Match("", r.Host, r.Path))
		}
	}
	return rule
}

// matchMethodParams matches r under each method a _method parameter of the
// URL-encoded form query names; a form the parser cannot fully read may
// hide one, and is matched under any method. Frameworks decode parameter
// names too ("%5Fmethod" is "_method"), so a form with an escape is parsed
// as well; one with neither "method" nor an escape names none.
func matchMethodParams(pol *policy.Policy, query string, r *Request) *policy.Rule {
	if !strings.Contains(query, "method") && !strings.Contains(query, "%") {
		return nil
	}
	var rule *policy.Rule
	q, err := url.ParseQuery(query)
	for k, ms := range q {
		if !isMethodParam(k) {
			continue
		}
		for _, m := range ms {
			rule = policy.Stricter(rule, pol.Match(m, r.Host, r.Path))
		}
	}
	if err != nil {
		rule = policy.Stricter(rule, pol.Match("", r.Host, r.Path))
	}
	return rule
}

// isMethodParam reports whether a decoded query parameter name is read as
// "_method" by some framework: PHP drops leading spaces from names and turns
// '.', ' ' and an unmatched '[' into '_', so ".method" is "_method" there.
func isMethodParam(name string) bool {
	name = strings.TrimLeft(name, " ")
	return len(name) == len("_method") && name[1:] == "method" && strings.IndexByte("_.[ ", name[0]) >= 0
}
