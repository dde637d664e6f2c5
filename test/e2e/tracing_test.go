package e2e

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/test/otlptest"
)

// With tracing.otlp_endpoint set, the real binary exports one span per
// decision to an OTLP/gRPC collector, each in the trace of the request
// Envoy checked (its traceparent), naming rule, outcome and factor and
// never the user id or the code; the spans still batched are sent when the
// server stops.
func TestTracingExportsDecisionSpans(t *testing.T) {
	t.Parallel()
	rcv := otlptest.Start(t)
	e := newEnv(t, cfgOpts{Extra: fmt.Sprintf("tracing:\n  otlp_endpoint: %s\n  insecure: true\n  sample_rate: 0\n  service_name: shop-mfa\n", rcv.Addr)})
	f := enrollJSON(t, e.cfg, "tina")
	s := startServer(t, e)
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	parent := func(span string, flags string) map[string]string {
		return map[string]string{"traceparent": "00-" + traceID + "-" + span + "-" + flags}
	}
	code := f.codeAt(t, f.step())
	missing := protected("tina", "")
	missing.extra = parent("b7ad6b7169203331", "01")
	s.expectDenied(t, s.check(t, missing.build(t)), deny403(glueMissing))
	verified := protected("tina", code)
	verified.extra = parent("c7ad6b7169203332", "01")
	s.expectAllowed(t, s.check(t, verified.build(t)), "totp")
	unsampled := protected("tina", "")
	unsampled.extra = parent("d7ad6b7169203333", "00")
	s.expectAllowed(t, s.check(t, unsampled.build(t)), "totp")
	s.expectAllowed(t, s.check(t, protected("tina", "").build(t)), "totp") // no trace context, sample_rate 0

	if code, _ := s.Stop(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d%s", code, s.Tail())
	}
	spans := rcv.WaitSpans(2, 5*time.Second)
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2 (the sampled requests only)%s", len(spans), s.Tail())
	}
	want := []struct{ parent, decision, reason, factor, detail string }{
		{"b7ad6b7169203331", "deny", "missing_code", "", ""},
		{"c7ad6b7169203332", "allow", "", "totp", ""},
	}
	for i, w := range want {
		sp := spans[i]
		if hex.EncodeToString(sp.GetTraceId()) != traceID || hex.EncodeToString(sp.GetParentSpanId()) != w.parent {
			t.Errorf("span %d: trace %x parent %x, want %s and %s", i, sp.GetTraceId(), sp.GetParentSpanId(), traceID, w.parent)
		}
		if sp.GetName() != "mfa-authz check" || sp.Attr("mfa.decision") != w.decision || sp.Attr("mfa.reason") != w.reason ||
			sp.Attr("mfa.factor") != w.factor || sp.Attr("mfa.rule") != "/customer-password/**" || sp.Attr("mfa.rule_index") != "0" {
			t.Errorf("span %d: %s %v", i, sp.GetName(), sp.GetAttributes())
		}
		if sp.Attr("mfa.user_hash") == "" || sp.Resource["service.name"] != "shop-mfa" {
			t.Errorf("span %d: user hash %q, resource %v", i, sp.Attr("mfa.user_hash"), sp.Resource)
		}
		for _, kv := range sp.GetAttributes() {
			if v := kv.GetValue().String(); strings.Contains(v, "tina") || strings.Contains(v, code) {
				t.Errorf("span %d: attribute %s = %s carries the user id or the code", i, kv.GetKey(), v)
			}
		}
	}
}
