// Package forwardauth serves the decision engine over plain HTTP, for
// proxies that ask an authorization service with an HTTP subrequest:
// Caddy's forward_auth, Traefik's ForwardAuth, nginx's auth_request, and
// Envoy's ext_authz filter in HTTP mode (http_service). It is the HTTP twin
// of package extauthz and, like it, only translates: a request into an
// authz.Request, a Decision into a response. Every decision is the
// engine's.
//
// # Forward-auth endpoint
//
// Requests to Options.Path, with any method, describe the original request
// in headers the proxy sets: X-Forwarded-Method, X-Forwarded-Uri (path and
// query) and X-Forwarded-Host. The request's other headers are the
// original request's, which the proxy copies. A request without the method
// or URI, or with any of the three repeated, cannot be decided and is
// denied with the profile's unavailable denial (503), as the gRPC adapter
// denies a malformed CheckRequest. A missing X-Forwarded-Host leaves the
// host unknown, which the policy matches as any host.
//
// An allowed request is answered 200 with an empty body and, when the
// route is protected, X-Mfa-Method naming the factor that verified the
// user ("none" when configuration let an unverified user through). The
// proxy must copy X-Mfa-Method to the upstream request, replacing any
// value the client sent, and remove the MFA header from it.
//
// A denied request is answered with the profile's status, content-type
// and body (byte for byte the body the gRPC adapter sends), plus
// cache-control: no-store and, for a banned user, retry-after. Caddy and
// Traefik send a non-2xx answer to the client as it is; nginx's
// auth_request passes on only a 401 or 403 status, without the body, and
// turns any other status into a 500.
//
// # Self-service endpoints
//
// The self-service endpoints (package mfaapi) are not served here: a
// proxy takes their success answers (any 2xx for forward-auth, 200 for
// Envoy) for an allow and passes on only denials, so an endpoint would
// act (enable a factor, store recovery codes, send a code) while its
// answer is lost. Every request is marked authz.Request.NoSelfService,
// and the engine denies one for an endpoint, by the same routing that
// would have run it, with the profile's unavailable denial (503) before
// the endpoint runs. Proxies must route the endpoints' paths to the HTTP
// listener itself, where mfaapi's Handler answers them with their real
// statuses, or use the gRPC ext_authz adapter.
//
// # Envoy HTTP ext_authz
//
// Requests below Options.EnvoyPrefix come from Envoy's ext_authz filter
// configured with an http_service whose path_prefix is that prefix. Envoy
// sends the original method, the prefix followed by the original path and
// query, the original Host, and only the headers its allowed_headers
// admit. Allowed answers also carry x-envoy-auth-headers-to-remove, which
// makes Envoy drop the MFA header (and on unprotected routes any
// client-sent x-mfa-method) from the upstream request; x-mfa-method must
// be listed in authorization_response.allowed_upstream_headers so that
// Envoy sets it upstream, overwriting a client's value:
//
//	http_filters:
//	  - name: envoy.filters.http.ext_authz
//	    typed_config:
//	      "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
//	      transport_api_version: V3
//	      failure_mode_allow: false
//	      allowed_headers:            # formerly authorization_request.allowed_headers
//	        patterns:
//	          - { exact: x-mfa-code, ignore_case: true }
//	          - { exact: x-user-id }  # identity.header, if used
//	          - { exact: x-request-id }
//	          - { exact: x-http-method-override }
//	          - { exact: x-http-method }
//	          - { exact: x-method-override }
//	      http_service:
//	        server_uri: { uri: "http://127.0.0.1:9192", cluster: mfa-authz-http, timeout: 0.5s }
//	        path_prefix: /ext-authz
//	        authorization_response:
//	          allowed_upstream_headers:
//	            patterns:
//	              - { exact: x-mfa-method }
//	  # ... then envoy.filters.http.router
//
// with a cluster mfa-authz-http speaking HTTP/1.1 to server.http_address.
// Method, Path, Host and Authorization are always sent. Envoy forwards a
// denial's status, headers and body to the client. No jwt_authn metadata
// reaches an HTTP authorization service: the identity must come from
// identity.header or identity.bearer_fingerprint.
package forwardauth

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// Options say where the handler answers. Empty fields disable an endpoint;
// the config package supplies the defaults and validates both paths.
type Options struct {
	// Path is the forward-auth endpoint (server.forward_auth_path), matched
	// exactly, for any method.
	Path string
	// EnvoyPrefix is the path prefix of Envoy's HTTP ext_authz mode
	// (server.envoy_http_prefix, Envoy's http_service.path_prefix), without
	// a trailing slash.
	EnvoyPrefix string
	// Next serves every other request, such as the health endpoints; nil
	// answers them 404.
	Next http.Handler
}

// Response header names, canonical: net/http writes keys as they are in
// the map, and canonical ones keep w.Header().Get working.
const (
	methodKey = "X-Mfa-Method"
	removeKey = "X-Envoy-Auth-Headers-To-Remove"
)

// requestID names the header whose value becomes a denial's flow_id.
const requestID = "x-request-id"

type handler struct {
	engine      *authz.Engine
	log         *zap.Logger
	path        string
	envoyPrefix string
	next        http.Handler

	// Header values are the same for every answer of a kind, so they are
	// built once and shared: net/http only reads them, and an Add by anyone
	// else reallocates, since each slice is full (len == cap).
	methods           map[string][]string
	removeUnprotected []string
	removeVerified    []string
}

// New returns a handler that decides forward-auth and Envoy HTTP ext_authz
// requests with engine and passes any other request to opts.Next. log may
// be nil.
//
// Requests below the Envoy prefix are recognized on the raw request target,
// not through http.ServeMux, which would answer a path holding "..", "."
// or "//" with a redirect to its cleaned form instead of a decision, and
// would clean the path the engine must judge as the upstream receives it.
func New(engine *authz.Engine, log *zap.Logger, opts Options) http.Handler {
	if log == nil {
		log = zap.NewNop()
	}
	next := opts.Next
	if next == nil {
		next = http.NotFoundHandler()
	}
	mfa := engine.HeaderName()
	h := &handler{
		engine:      engine,
		log:         log,
		path:        opts.Path,
		envoyPrefix: strings.TrimSuffix(opts.EnvoyPrefix, "/"),
		next:        next,
		methods:     make(map[string][]string),
		// Envoy splits the value on commas and trims each name.
		removeUnprotected: []string{mfa + ", " + authz.MethodHeader},
		removeVerified:    []string{mfa},
	}
	for _, m := range engine.Methods() {
		h.methods[m] = []string{m}
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if h.path != "" && req.URL.Path == h.path {
		h.check(w, req, false, "")
		return
	}
	if h.envoyPrefix != "" {
		if rest, ok := cutPrefix(req.RequestURI, h.envoyPrefix); ok {
			h.check(w, req, true, rest)
			return
		}
	}
	h.next.ServeHTTP(w, req)
}

// check decides one request. envoy selects Envoy's HTTP ext_authz mode,
// where rest is the original request target.
func (h *handler) check(w http.ResponseWriter, req *http.Request, envoy bool, rest string) {
	defer func() {
		// The engine recovers its own panics; this guards the translation,
		// so that a bug here is still a clean denial, not a dropped connection.
		if p := recover(); p != nil {
			h.log.Error("forward-auth adapter panicked; request denied",
				zap.String("panic", fmt.Sprint(p)), zap.Stack("stack"))
			h.unavailable(w, req)
		}
	}()

	var (
		r       authz.Request
		problem string
	)
	if envoy {
		r, problem = envoyRequest(req, rest)
	} else {
		r, problem = forwardedRequest(header(req.Header))
	}
	if problem != "" {
		if ce := h.log.Check(zap.DebugLevel, "malformed forward-auth request denied"); ce != nil {
			ce.Write(zap.String("problem", problem), zap.Bool("envoy", envoy))
		}
		h.unavailable(w, req)
		return
	}
	// Neither transport can deliver a self-service endpoint's answer: the
	// engine refuses those requests before the endpoint can act.
	r.NoSelfService = true
	d := h.engine.Check(req.Context(), &r)
	if ce := h.log.Check(zap.DebugLevel, "decision"); ce != nil {
		ce.Write(zap.Bool("allowed", d.Allowed), zap.Stringer("reason", d.Reason), zap.String("detail", d.Detail),
			zap.String("method", d.Method), zap.String("user_hash", hashIf(d.User)))
	}
	if d.Allowed {
		h.allow(w, d.Method, envoy)
		return
	}
	if d.Detail == authz.DetailNoSelfService {
		if ce := h.log.Check(zap.DebugLevel, "self-service endpoint refused over HTTP ext_authz; "+
			"route its path to the HTTP listener or use gRPC ext_authz"); ce != nil {
			p, _, _ := strings.Cut(r.Path, "?") // an endpoint's path; the query may hold anything
			ce.Write(zap.String("path", p), zap.Bool("envoy", envoy))
		}
	}
	if !deliverable(d.Answer.Status, envoy) {
		// The proxy would take this answer for an allow and send the
		// request upstream, losing the answer. Only a self-service
		// endpoint's success could be one, and NoSelfService keeps those
		// from being answered: this is a guard, never an answer.
		if ce := h.log.Check(zap.DebugLevel, "answer not deliverable over HTTP ext_authz; request denied"); ce != nil {
			ce.Write(zap.Int("status", d.Answer.Status), zap.Bool("envoy", envoy))
		}
		h.unavailable(w, req)
		return
	}
	h.answer(w, d.Answer)
}

// deliverable reports whether the proxy sends an answer with status to
// the client rather than letting the request through. Forward-auth proxies
// let any 2xx through, Envoy only 200. A 1xx would be sent as interim and
// followed by net/http's 200, so it is never deliverable.
func deliverable(status int, envoy bool) bool {
	switch {
	case status >= 300 && status <= 599:
		return true
	case envoy:
		return status > 200 && status < 300
	default:
		return false
	}
}

// allow answers 200 with an empty body. method is the factor that verified
// the user, "" on an unprotected route.
func (h *handler) allow(w http.ResponseWriter, method string, envoy bool) {
	hdr := w.Header()
	if method != "" {
		v, ok := h.methods[method]
		if !ok {
			v = []string{method}
		}
		hdr[methodKey] = v
	}
	if envoy {
		// The MFA header never goes upstream; on an unprotected route no
		// x-mfa-method is set, so a client-sent one is removed instead.
		if method == "" {
			hdr[removeKey] = h.removeUnprotected
		} else {
			hdr[removeKey] = h.removeVerified
		}
	}
	w.WriteHeader(http.StatusOK)
}

// answer writes a rendered denial, whose status the caller has found
// deliverable.
func (h *handler) answer(w http.ResponseWriter, den profile.Answer) {
	hdr := w.Header()
	den.Headers(hdr.Set)
	w.WriteHeader(den.Status)
	if den.Body != "" {
		_, _ = io.WriteString(w, den.Body) // a client gone away is no concern here
	}
}

// unavailable denies a request that cannot be decided, or whose answer
// cannot be delivered, with the profile's unavailable denial, as the gRPC
// adapter denies a malformed CheckRequest.
func (h *handler) unavailable(w http.ResponseWriter, req *http.Request) {
	flow, n := header(req.Header).Lookup(requestID)
	if n != 1 {
		flow = ""
	}
	den := h.engine.Answer(profile.Unavailable, flow)
	if !deliverable(den.Status, false) {
		den.Status = http.StatusServiceUnavailable // never an allow, whatever the profile says
	}
	h.answer(w, den)
}

func hashIf(user string) string {
	if user == "" {
		return ""
	}
	return authz.HashUser(user)
}
