package authz

import (
	"net/url"
	"strings"

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
	rule := pol.Match(r.Method, r.Host, r.Path)
	if rule != nil && rule.MFARequired || !pol.MayProtect(r.Host, r.Path) {
		return rule
	}
	for _, h := range methodOverrideHeaders {
		if v, n := lookup(r.Header, h); n > 0 {
			for _, m := range strings.Split(v, ",") {
				rule = policy.Stricter(rule, pol.Match(strings.TrimSpace(m), r.Host, r.Path))
			}
		}
	}
	if _, query, ok := strings.Cut(r.Path, "?"); ok && strings.Contains(query, "_method") {
		query, _, _ = strings.Cut(query, "#")
		q, err := url.ParseQuery(query)
		for _, m := range q["_method"] {
			rule = policy.Stricter(rule, pol.Match(m, r.Host, r.Path))
		}
		if err != nil {
			// A query the parser cannot fully read may hide a _method: any method.
			rule = policy.Stricter(rule, pol.Match("", r.Host, r.Path))
		}
	}
	return rule
}
