package telemetry

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz"
)

// DecisionLog writes one structured line per decision (log.decisions:
// all), per sampled decision (sampled, log.decision_sample_rate) or none
// (off). A line names the rule, the decision, the reason, the method, the
// latency, the flow id and a hash of the user id (authz.HashUser); never a
// code, a token, a header or the user id itself. Mode and rate may change
// at any time (config reload).
type DecisionLog struct {
	log *zap.Logger
	// mode is 0 (off), 1 (sampled) or 2 (all); threshold is the sample
	// rate scaled to a uint64, compared with a random uint64.
	mode      atomic.Uint32
	threshold atomic.Uint64
	logged    func()
}

// DecisionMode says which decisions a DecisionLog writes (log.decisions).
// The zero value writes none.
type DecisionMode uint32

// The decision log's modes.
const (
	DecisionsOff     DecisionMode = iota // no line
	DecisionsSampled                     // a random share of the decisions
	DecisionsAll                         // one line per decision
)

// NewDecisionLog returns a decision log writing to log at info level, in
// mode, sampling rate (0 to 1) of the decisions when mode is
// DecisionsSampled. counted, when non-nil, is called once per line written.
func NewDecisionLog(log *zap.Logger, mode DecisionMode, rate float64, counted func()) *DecisionLog {
	if log == nil {
		log = zap.NewNop()
	}
	if counted == nil {
		counted = func() {}
	}
	l := &DecisionLog{log: log.Named("decision"), logged: counted}
	l.Configure(mode, rate)
	return l
}

// Configure sets the mode and the sample rate (log.decisions and
// log.decision_sample_rate); it may be called at any time.
func (l *DecisionLog) Configure(mode DecisionMode, rate float64) {
	switch {
	case rate >= 1:
		l.threshold.Store(math.MaxUint64)
	case rate <= 0:
		l.threshold.Store(0)
	default:
		l.threshold.Store(uint64(rate * float64(math.MaxUint64)))
	}
	l.mode.Store(uint32(mode))
}

// ObserveCheck logs d if the mode and the sample say so.
func (l *DecisionLog) ObserveCheck(d authz.Decision, flowID string, elapsed time.Duration) {
	switch DecisionMode(l.mode.Load()) {
	case DecisionsAll:
	case DecisionsSampled:
		if rand.Uint64() >= l.threshold.Load() {
			return
		}
	default: // off
		return
	}
	ce := l.log.Check(zap.InfoLevel, "decision")
	if ce == nil {
		return
	}
	decision := DecisionDeny
	switch {
	case d.API:
		decision = DecisionAPI
	case d.Allowed:
		decision = DecisionAllow
	}
	rule, ruleIndex := "", -1
	if d.Rule != nil {
		rule, ruleIndex = d.Rule.Path, d.Rule.Index
		if d.Rule.Name != "" {
			rule = d.Rule.Name
		}
	}
	reason := d.Detail
	if !d.Allowed && !d.API {
		reason = d.Reason.String()
	}
	user := ""
	if d.User != "" {
		user = authz.HashUser(d.User)
	}
	ce.Write(
		zap.String("decision", decision),
		zap.String("reason", reason),
		zap.String("detail", d.Detail),
		zap.String("rule", rule),
		zap.Int("rule_index", ruleIndex),
		zap.String("method", d.Method),
		zap.Int("status", d.Answer.Status),
		zap.Duration("latency", elapsed),
		zap.String("flow_id", flowID),
		zap.String("user_hash", user),
	)
	l.logged()
}

// ObserveVerification implements authz.Observer; verifications are not logged.
func (l *DecisionLog) ObserveVerification(string, authz.Proof) {}

// ObserveBan implements authz.Observer; the engine logs bans itself.
func (l *DecisionLog) ObserveBan() {}

// Observer fans the engine's observations out to the metrics and the
// decision log; either may be nil.
type Observer struct {
	Metrics *Metrics
	Log     *DecisionLog
}

// ObserveCheck implements authz.Observer.
func (o *Observer) ObserveCheck(d authz.Decision, flowID string, elapsed time.Duration) {
	if o.Metrics != nil {
		o.Metrics.ObserveCheck(d, flowID, elapsed)
	}
	if o.Log != nil {
		o.Log.ObserveCheck(d, flowID, elapsed)
	}
}

// ObserveVerification implements authz.Observer.
func (o *Observer) ObserveVerification(method string, p authz.Proof) {
	if o.Metrics != nil {
		o.Metrics.ObserveVerification(method, p)
	}
}

// ObserveBan implements authz.Observer.
func (o *Observer) ObserveBan() {
	if o.Metrics != nil {
		o.Metrics.ObserveBan()
	}
}

// Counted returns the callback NewDecisionLog takes to count lines.
func (m *Metrics) Counted() func() { return m.logged.Inc }

var _ authz.Observer = (*Observer)(nil)
