package authz

import (
	"context"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Observer is told about every decision and every code verification the
// engine makes, whichever transport asked (gRPC ext_authz, forward-auth,
// Envoy HTTP mode, the self-service endpoints). It is the one place
// metrics and decision logs hook in. Implementations must be safe for
// concurrent use, must not block, and should not allocate on the hot path:
// the Decision is passed by value so that observing it does not move it to
// the heap.
type Observer interface {
	// ObserveCheck is called once per Check with its decision, the
	// request's flow id ("" when none) and how long the check took.
	ObserveCheck(d Decision, flowID string, elapsed time.Duration)
	// ObserveVerification is called once per code checked against a
	// user's factors (in Check and in the self-service endpoints). method
	// is the factor the code was for ("" when the header named none that
	// could be told); p is the outcome. It is not called when the request
	// carried no code at all.
	ObserveVerification(method string, p Proof)
	// ObserveBan is called when a user is banned after too many wrong codes.
	ObserveBan()
}

type observerHolder struct{ o Observer }

// SetObserver installs o; nil removes the observer. Checks already
// running may still report to the previous one.
func (e *Engine) SetObserver(o Observer) {
	if o == nil {
		e.obs.Store(nil)
		return
	}
	e.obs.Store(&observerHolder{o})
}

// Check decides r. It never panics and never allows a protected request
// on an error: a panic inside is recovered as an Unavailable denial. The
// decision is reported to the observer, if one is installed.
func (e *Engine) Check(ctx context.Context, r *Request) Decision {
	h, t := e.obs.Load(), e.tracer.Load()
	if h == nil && t == nil {
		return e.check(ctx, r)
	}
	start := time.Now()
	d := e.check(ctx, r)
	elapsed := time.Since(start)
	if h != nil {
		flow := ""
		if r != nil {
			if flow = r.ID; flow == "" {
				flow, _ = lookup(r.Header, "x-request-id")
			}
		}
		h.o.ObserveCheck(d, flow, elapsed)
	}
	if t != nil {
		t.t.TraceCheck(traceContext(r), d, start, elapsed)
	}
	return d
}

// Prove checks the MFA header of r for user, whose enrollment is enr,
// under regulation: wrong codes count towards the lockout, a banned user
// is refused. pending names a factor whose activation is in progress that
// may prove itself too (the verify endpoint); a bare code then means it.
// A right code is consumed (TOTP step, one-time code, recovery code). The
// outcome is reported to the observer, if one is installed.
func (e *Engine) Prove(ctx context.Context, r *Request, user string, enr *store.Enrollment, pending string, now time.Time) Proof {
	p := e.prove(ctx, r, user, enr, pending, now)
	h := e.obs.Load()
	if h == nil || p.Reason == profile.Missing {
		return p
	}
	method := p.Method
	if method == "" {
		method = e.codeMethod(r, enr, pending)
	}
	h.o.ObserveVerification(method, p)
	return p
}

// codeMethod tells which factor r's code was for, the way prove resolves
// it, for observing failed verifications; "" when it cannot be told.
func (e *Engine) codeMethod(r *Request, enr *store.Enrollment, pending string) string {
	raw, n := lookup(r.Header, e.header)
	if n != 1 {
		return ""
	}
	method, _, ok := parseCode(e.factors, raw)
	if !ok || method != "" {
		return method
	}
	if pending != "" {
		return pending
	}
	if enr != nil {
		if m := enr.Methods(); len(m) > 0 {
			return m[0]
		}
	}
	return ""
}

// observeBan reports a new ban to the observer.
func (e *Engine) observeBan() {
	if h := e.obs.Load(); h != nil {
		h.o.ObserveBan()
	}
}
