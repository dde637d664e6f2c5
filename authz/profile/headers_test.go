package profile

import (
	"strings"
	"testing"
	"time"
)

// Every transport sends exactly the headers Headers names, so that a client
// sees the same answer over gRPC, forward-auth and the HTTP listener.
func TestHeaders(t *testing.T) {
	for _, c := range []struct {
		name string
		d    Answer
		want string
	}{
		{"body", Answer{Status: 403, ContentType: GlueContentType}, "content-type: " + GlueContentType + "; cache-control: no-store"},
		{"no body (204)", Answer{Status: 204}, "cache-control: no-store"},
		{"retry rounds up", Answer{Status: 429, ContentType: ProblemContentType, RetryAfter: 1200 * time.Millisecond},
			"content-type: " + ProblemContentType + "; cache-control: no-store; retry-after: 2"},
		{"whole seconds stay", Answer{Status: 429, RetryAfter: 90 * time.Second}, "cache-control: no-store; retry-after: 90"},
		{"under a second is one", Answer{Status: 429, RetryAfter: time.Nanosecond}, "cache-control: no-store; retry-after: 1"},
		{"allow and flow id", Answer{Status: 405, ContentType: ProblemContentType, Allow: "POST", FlowHeader: "x-invers-flow-id", FlowID: "f-1"},
			"content-type: " + ProblemContentType + "; cache-control: no-store; allow: POST; x-invers-flow-id: f-1"},
		{"challenge", Answer{Status: 401, ContentType: ProblemContentType, Challenge: BearerChallenge},
			"content-type: " + ProblemContentType + "; cache-control: no-store; www-authenticate: Bearer"},
	} {
		var got []string
		c.d.Headers(func(name, value string) { got = append(got, name+": "+value) })
		if g := strings.Join(got, "; "); g != c.want {
			t.Errorf("%s: headers %q, want %q", c.name, g, c.want)
		}
	}
}
