package authz

import (
	"time"
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

// observeBan reports a new ban to the observer.
func (e *Engine) observeBan() {
	if h := e.obs.Load(); h != nil {
		h.o.ObserveBan()
	}
}
