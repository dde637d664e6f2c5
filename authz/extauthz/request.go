package extauthz

import (
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/internal/httpsyntax"
)

// Request translates a CheckRequest. A non-empty problem means the request
// cannot be decided (no HTTP attributes, no path, or fields that contradict
// the pseudo-headers) and must be denied.
func Request(req *authv3.CheckRequest) (r authz.Request, problem string) {
	return request(req, &headers{})
}

// request translates req, reading headers through hv, which it resets.
func request(req *authv3.CheckRequest, hv *headers) (r authz.Request, problem string) {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	if h == nil {
		return r, "no attributes.request.http"
	}
	*hv = headers{m: h.GetHeaders(), list: h.GetHeaderMap().GetHeaders()}
	r = authz.Request{
		Method: h.GetMethod(),
		Host:   h.GetHost(),
		Path:   h.GetPath(),
		ID:     h.GetId(),
		Header: hv,
	}
	var ok bool
	if r.Method, ok = pick(r.Method, hv, ":method"); !ok {
		return r, "method disagrees with :method"
	}
	if r.Path, ok = pick(r.Path, hv, ":path"); !ok {
		return r, "path disagrees with :path"
	}
	if r.Host, ok = pick(r.Host, hv, ":authority"); !ok {
		return r, "host disagrees with :authority"
	}
	if r.Path == "" {
		return r, "no path"
	}
	// Envoy's attributes.request.http.id is its stream id, a number known
	// only to that Envoy. The x-request-id header (allowed_headers) is the
	// id the client, the upstream and the access log share: flow_id is
	// that header when it is sent (the engine reads it when ID is empty).
	if _, n := hv.Lookup("x-request-id"); n > 0 {
		r.ID = ""
	}
	r.Metadata = attrs.GetMetadataContext().GetFilterMetadata()
	// with_request_body: raw_body when pack_as_bytes is on, else body.
	// Envoy marks a body cut at max_request_bytes with this header.
	if raw := h.GetRawBody(); len(raw) > 0 {
		r.Body = raw
	} else if b := h.GetBody(); b != "" {
		r.Body = []byte(b)
	}
	if v, n := hv.Lookup("x-envoy-auth-partial-body"); n > 0 && v == "true" {
		r.BodyTruncated = true
	}
	if size := h.GetSize(); size > 0 && int64(len(r.Body)) < size {
		r.BodyTruncated = true
	}
	return r, ""
}

// pick returns the attribute field, or the pseudo-header when the field is
// empty. Both present and different is a contradiction (ok=false).
func pick(field string, h *headers, pseudo string) (string, bool) {
	v, n := h.Lookup(pseudo)
	switch {
	case n == 0:
		return field, true
	case n > 1:
		return "", false
	case field == "":
		return v, true
	default:
		return field, v == field
	}
}

// headers reads Envoy's headers map and header_map (sent instead when
// encode_raw_headers is on) as one case-insensitive view. A name present in
// both, or in the map under keys differing only in case, counts as repeated.
type headers struct {
	m    map[string]string
	list []*corev3.HeaderValue
	// upper caches whether m has a key with an upper-case letter: 0 not
	// known yet, 1 no, 2 yes. Envoy sends lower-case keys, so for real
	// traffic a missed lookup is final after one scan of the keys.
	upper int8
}

var headersPool = sync.Pool{New: func() any { return new(headers) }}

// Lookup implements authz.Header.
func (h *headers) Lookup(name string) (value string, n int) {
	if len(h.m) > 0 {
		if !h.mapHasUpper() {
			if v, ok := h.m[name]; ok {
				value, n = v, 1
			}
		} else {
			// Keys differing only in case are repeats, even when one of
			// them is the lower-case name itself.
			for k, v := range h.m {
				if httpsyntax.EqualFold(k, name) {
					if n == 0 || k == name {
						value = v
					}
					n++
				}
			}
		}
	}
	for _, hv := range h.list {
		k := hv.GetKey()
		if !httpsyntax.EqualFold(k, name) {
			continue
		}
		if n == 0 {
			if raw := hv.GetRawValue(); len(raw) > 0 {
				value = string(raw)
			} else {
				value = hv.GetValue()
			}
		}
		n++
	}
	return value, n
}

func (h *headers) mapHasUpper() bool {
	if h.upper == 0 {
		h.upper = 1
		for k := range h.m {
			for i := 0; i < len(k); i++ {
				if 'A' <= k[i] && k[i] <= 'Z' {
					h.upper = 2
					return true
				}
			}
		}
	}
	return h.upper == 2
}
