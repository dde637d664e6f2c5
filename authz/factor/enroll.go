package factor

import (
	"time"

	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// The enrollment side of a factor: what the self-service endpoints and the
// CLI need to show, start, complete and remove it. Each is a small optional
// interface, so that the endpoints and the CLI iterate the registry and ask
// a factor what it can do instead of naming it. Only the factor packages
// (and the store, which encrypts and serializes them) read or write the
// factors' records in store.Enrollment.

// Statuses of a factor in an enrollment, as Spryker numbers them in the
// types list.
const (
	// StatusDisabled: the user has not got the factor.
	StatusDisabled = 0
	// StatusInProgress: the factor's activation has started and awaits
	// its first code.
	StatusInProgress = 1
	// StatusEnabled: the factor counts for step-up.
	StatusEnabled = 2
)

// Enrollable is a factor a user's enrollment can hold: it has a status and
// the self-service deactivate (and the CLI's user disable) removes it. It
// does not embed Factor, so that a factor whose verification needs
// configuration can still be shown by tools that have none.
type Enrollable interface {
	// Name is the factor's public name (Factor.Name).
	Name() string
	// Status returns the factor's status in enr, one of the Status
	// constants. enr is not nil.
	Status(enr *store.Enrollment) int
	// Remove removes the factor's record from enr, the caller's copy.
	Remove(enr *store.Enrollment)
}

// Labeled is implemented by a factor with a name for people, as the
// enrollment page shows it ("Authenticator app", "Passkeys").
type Labeled interface {
	Label() string
}

// LabelOf returns the label of the factor called name among fs, or
// fallback when none has one.
func LabelOf[F interface{ Name() string }](fs []F, name, fallback string) string {
	for _, f := range fs {
		if l, ok := any(f).(Labeled); ok && f.Name() == name {
			return l.Label()
		}
	}
	return fallback
}

// Without returns a copy of enr without f, nil when nothing is left: f's
// record removed by f, and the rest (recovery codes go with the last
// factor) by the store's rules (store.Enrollment.Without).
func Without(f Enrollable, enr *store.Enrollment) *store.Enrollment {
	if enr == nil {
		return nil
	}
	next := *enr
	f.Remove(&next)
	return next.Without(f.Name())
}

// Activatable is an Enrollable factor started by the activate endpoint and
// enabled by a code at the verify endpoint: either Generated or Destined.
type Activatable interface {
	Enrollable
	// Started returns when the activation in progress in enr started.
	// It is called only while Status is StatusInProgress.
	Started(enr *store.Enrollment) time.Time
	// SamePending reports whether the activations in progress in a and b
	// are the same one (the same secret, or the same destination
	// registered at the same time). It is called only while Status is
	// StatusInProgress in both.
	SamePending(a, b *store.Enrollment) bool
	// Enable enables the activation in progress in enr. enr is the
	// caller's copy; the factor's own record in it is shared with the
	// enrollment it was copied from and must be replaced, not changed.
	Enable(enr *store.Enrollment)
}

// EnrollEnv is what a Generated factor may use to make a new factor: the
// enrollment settings of the running configuration.
type EnrollEnv struct {
	// TOTP shapes new TOTP factors.
	TOTP totp.Config
}

// Activation is a new factor that a Generated factor made for a user.
type Activation struct {
	// Started is when it was made: the start of its activation.
	Started time.Time
	// Shown is the attributes the activate endpoint answers with, shown
	// to the user this once (a secret).
	Shown any
	// Put writes the factor into enr, pending (to be enabled by a code)
	// or enabled at once (an operator enrolling it).
	Put func(enr *store.Enrollment, pending bool)
}

// Generated is an Activatable factor whose secret the server makes and
// shows once, for the user's device to generate codes from (TOTP).
type Generated interface {
	Activatable
	// Generate makes a new factor for user.
	Generate(env *EnrollEnv, user string, now time.Time) (Activation, error)
}

// Claims name the JWT claims that carry verified destinations, per kind
// of destination (the delivery.email_claim and delivery.phone_claim keys).
type Claims struct {
	Email, Phone string
}

// SendReasons are the answers a Destined factor's refusals get.
type SendReasons struct {
	// InvalidDestination: the destination is not one the factor can send to.
	InvalidDestination profile.Reason
	// UserLimit and TenantLimit: a send limit is spent.
	UserLimit, TenantLimit profile.Reason
}

// Destined is a Sent, Activatable factor whose codes go to a destination
// the user registers at activation (an e-mail address, a phone number).
type Destined interface {
	Sent
	Activatable
	// Destination returns where the factor in enr (in progress or
	// enabled) sends codes, "" when enr has none.
	Destination(enr *store.Enrollment) string
	// Register puts a factor sending to dest into enr, replacing the
	// factor's earlier record: enabled at once (an operator vouching for
	// the destination) or in progress.
	Register(enr *store.Enrollment, dest string, enabled bool, now time.Time)
	// ValidDestination reports whether dest is a destination of the
	// factor's kind.
	ValidDestination(dest string) bool
	// DestinationHint describes a valid destination, for error messages
	// ("an e-mail address").
	DestinationHint() string
	// Claim returns the name, among c, of the JWT claim that carries the
	// user's verified destination of the factor's kind.
	Claim(c *Claims) string
	// Mailbox returns the normal form of dest under which sends to it
	// are counted: every spelling that reaches the same inbox or phone
	// counts as one.
	Mailbox(dest string) string
	// Reasons returns the answers of the factor's refusals.
	Reasons() SendReasons
}

// StatusOf returns the status of the factor called name among fs, for
// tools that show the same numbers as the types list; a name that is not
// Enrollable in fs is StatusDisabled.
func StatusOf(fs []Enrollable, enr *store.Enrollment, name string) int {
	for _, f := range fs {
		if f.Name() == name {
			return f.Status(enr)
		}
	}
	return StatusDisabled
}
