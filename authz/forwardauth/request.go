package forwardauth

import (
	"io"
	"net/http"
	"strings"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/internal/httpsyntax"
)

// The headers in which Caddy's forward_auth, Traefik's ForwardAuth and a
// suitably configured nginx auth_request describe the original request,
// in the lower case the engine's Header interface takes.
const (
	forwardedMethod = "x-forwarded-method"
	forwardedURI    = "x-forwarded-uri"
	forwardedHost   = "x-forwarded-host"
)

// forwardedRequest translates a forward-auth request: the original method,
// URI and host come from the X-Forwarded-* headers, the original headers
// are the request's own. A non-empty problem means the request cannot be
// decided and must be denied.
func forwardedRequest(h header) (r authz.Request, problem string) {
	r.Header = h
	method, n := h.Lookup(forwardedMethod)
	switch {
	case n == 0:
		return r, "no X-Forwarded-Method"
	case n > 1:
		return r, "repeated X-Forwarded-Method"
	case !httpsyntax.IsToken(method):
		// Also refuses a comma-joined list, which names no single method.
		return r, "X-Forwarded-Method is not a method"
	}
	uri, n := h.Lookup(forwardedURI)
	switch {
	case n == 0:
		return r, "no X-Forwarded-Uri"
	case n > 1:
		return r, "repeated X-Forwarded-Uri"
	case uri == "":
		return r, "empty X-Forwarded-Uri"
	}
	host, n := h.Lookup(forwardedHost)
	switch {
	case n > 1:
		return r, "repeated X-Forwarded-Host"
	case strings.IndexByte(host, ',') >= 0:
		// A proxy chain appended hosts: which one the client asked for is
		// not known for sure.
		return r, "X-Forwarded-Host lists several hosts"
	}
	// Without X-Forwarded-Host the host stays empty, which the policy reads
	// as "any host": host-specific rules then protect rather than miss. The
	// request's own Host names mfa-authz's listener for some proxies (nginx),
	// so it is no fallback.
	r.Method, r.Path, r.Host = method, uri, host
	return r, ""
}

// maxBody bounds the request body read in Envoy's mode, where Envoy sends
// the original body when with_request_body is on; its max_request_bytes
// should be lower. A longer body is cut and marked truncated.
const maxBody = 64 << 10

// envoyRequest translates a request of Envoy's HTTP ext_authz mode: Envoy
// sends the original method, the original :path behind its path_prefix
// (rest, query included, exactly as received), the original :authority as
// Host, the headers its allowed_headers admit and, with with_request_body,
// the body.
func envoyRequest(req *http.Request, rest string) (r authz.Request, problem string) {
	h := header(req.Header)
	r = authz.Request{Method: req.Method, Host: req.Host, Path: rest, Header: h}
	if rest == "" || rest[0] != '/' {
		return r, "no path after the Envoy prefix"
	}
	if req.ContentLength != 0 && req.Body != nil {
		body, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
		if err != nil || len(body) > maxBody {
			body, r.BodyTruncated = body[:min(len(body), maxBody)], true
		}
		r.Body = body
	}
	// Envoy marks a body it cut at max_request_bytes.
	if v, n := h.Lookup("x-envoy-auth-partial-body"); n > 0 && v == "true" {
		r.BodyTruncated = true
	}
	return r, ""
}

// cutPrefix returns what follows prefix in the request target uri when uri
// is prefix itself or lies below it (the next byte a slash or the query's
// question mark). The target is the raw one, not net/http's cleaned and
// decoded path: the engine must judge the path as the upstream receives it.
func cutPrefix(uri, prefix string) (rest string, ok bool) {
	rest, ok = strings.CutPrefix(uri, prefix)
	if !ok || rest != "" && rest[0] != '/' && rest[0] != '?' {
		return "", false
	}
	return rest, true
}
