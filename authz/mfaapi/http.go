package mfaapi

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/mfa-authz/mfa-authz/authz"
)

// Handler serves the endpoints over plain HTTP and hands every other
// request to next (nil: 404), for deployments without Envoy in front and
// for proxies that route the endpoints' paths here because their HTTP
// ext_authz transport cannot deliver the answers. The answers are
// Handle's, so both transports behave alike.
//
// Requests are routed on the request target as sent (path and query, the
// path percent-encoded as the client wrote it), the same string Handle
// gets and routes on, and the same spelling the engine recognizes on
// ext_authz: "/multi-factor-auth-type-%61ctivate" is no endpoint's path,
// here or there.
func (a *API) Handler(next http.Handler) http.Handler {
	if next == nil {
		next = http.NotFoundHandler()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		// RequestURI keeps the client's escaping (RawPath) and drops the
		// scheme and host of an absolute-form target.
		target := hr.URL.RequestURI()
		if !a.Serves(hr.Method, target) {
			next.ServeHTTP(w, hr)
			return
		}
		r := &authz.Request{
			Method: hr.Method,
			Host:   hr.Host,
			Path:   target,
			ID:     hr.Header.Get("X-Request-Id"),
			Header: httpHeader(hr.Header),
		}
		if hr.Body != nil {
			body, err := readBody(hr, a.o.MaxBodyBytes)
			r.Body = body
			r.BodyTruncated = err != nil
		}
		ans, ok := a.Handle(hr.Context(), r)
		if !ok {
			// Not an endpoint after all (Handle routes the same target, so
			// this does not happen): never write a zero-value answer.
			next.ServeHTTP(w, hr)
			return
		}
		ans.Headers(w.Header().Set)
		w.WriteHeader(ans.Status)
		if ans.Status != http.StatusNoContent {
			_, _ = w.Write([]byte(ans.Body))
		}
	})
}

// readBody reads at most max bytes of hr's body; an error means the body
// is incomplete (too long, cut short, or shorter than announced), which
// the endpoints refuse as InvalidBody.
func readBody(hr *http.Request, max int) ([]byte, error) {
	buf := make([]byte, 0, 512)
	b := bytes.NewBuffer(buf)
	n, err := b.ReadFrom(http.MaxBytesReader(nil, hr.Body, int64(max)))
	if err != nil {
		return b.Bytes(), err
	}
	if hr.ContentLength > 0 && n < hr.ContentLength {
		return b.Bytes(), errors.New("short body")
	}
	return b.Bytes(), nil
}

// httpHeader adapts net/http headers to authz.Header: repeats are counted.
type httpHeader http.Header

// Lookup implements authz.Header. Repeats are counted, not joined, because
// the engine refuses a repeated MFA header rather than guess which counts.
func (h httpHeader) Lookup(name string) (string, int) {
	vs := http.Header(h).Values(name)
	if len(vs) == 0 {
		return "", 0
	}
	return vs[0], len(vs)
}
