package authz

import (
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/authz/internal/httpsyntax"
)

// Request is what the engine needs to know about one HTTP request. A
// transport (gRPC ext_authz, HTTP forward-auth, a test) fills it in.
type Request struct {
	// Method is the HTTP method, in any case.
	Method string
	// Host is the request's authority (Host header), possibly with a port.
	Host string
	// Path is the request target as received: path, query and fragment,
	// or absolute-form. The policy normalizes it.
	Path string
	// ID is the request id (Envoy's x-request-id) used as flow_id in
	// problem bodies. Empty means the x-request-id header, else a new id.
	ID string
	// Header gives access to the request headers. Nil means no headers.
	Header Header
	// Metadata is Envoy's filter metadata (metadata_context.filter_metadata),
	// where jwt_authn leaves the verified token's payload.
	Metadata map[string]*structpb.Struct
	// Body is the request body as far as the transport has it (Envoy sends
	// it when with_request_body is on), for the endpoints mfa-authz answers
	// itself. BodyTruncated reports that the transport cut it short.
	Body          []byte
	BodyTruncated bool
	// NoSelfService is set by transports that cannot deliver the
	// self-service endpoints' answers: the HTTP ext_authz transports, whose
	// proxies take a 2xx answer for an allow. Check then refuses a request
	// for an endpoint as unavailable (Detail DetailNoSelfService) without
	// running it, so that no endpoint acts on a request whose answer would
	// be lost; every other request is decided as usual.
	NoSelfService bool
}

// Header is read-only, case-insensitive access to request headers.
type Header interface {
	// Lookup returns the value of the header named name (given in lower
	// case) and how many times the header occurs. A transport that joins
	// repeated headers (as Envoy does with commas) reports 1.
	Lookup(name string) (value string, n int)
}

// MapHeader adapts a map of header names to values, such as Envoy's
// AttributeContext.HttpRequest.headers, whose keys Envoy sends in lower case.
type MapHeader map[string]string

// Lookup implements Header. A direct hit on the lower-case name is the
// answer (Envoy always lower-cases keys and joins repeats with commas);
// otherwise keys are compared case-insensitively, and keys differing only
// in case count as repeats.
func (h MapHeader) Lookup(name string) (string, int) {
	if v, ok := h[name]; ok {
		return v, 1
	}
	var (
		value string
		n     int
	)
	for k, v := range h {
		if httpsyntax.EqualFold(k, name) {
			if n == 0 {
				value = v
			}
			n++
		}
	}
	return value, n
}

func lookup(h Header, name string) (string, int) {
	if h == nil {
		return "", 0
	}
	return h.Lookup(name)
}
