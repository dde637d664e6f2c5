// Package mfaapi serves the MFA self-service endpoints of Spryker's Glue
// API (types, activate, verify, deactivate, trigger) plus recovery-code
// regeneration, in front of a service that has none of them.
//
// One implementation, two transports: API.Handle answers an authz.Request
// (the engine calls it before the policy, and the ext_authz adapter sends
// the answer to the client as a denied response carrying the real status
// and body), and API.Handler serves the same over plain HTTP.
package mfaapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// JSON:API resource types of the endpoints' bodies.
const (
	TypeTypes         = "multi-factor-auth-types"
	TypeActivate      = "multi-factor-auth-type-activate"
	TypeVerify        = "multi-factor-auth-type-verify"
	TypeDeactivate    = "multi-factor-auth-type-deactivate"
	TypeTrigger       = "multi-factor-auth-trigger"
	TypeRecoveryCodes = "multi-factor-auth-recovery-codes"
)

// Statuses of a method in the types list, as Spryker numbers them.
const (
	StatusDisabled   = 0
	StatusInProgress = 1
	StatusEnabled    = 2
)

// Paths are the endpoints' exact paths.
type Paths struct {
	Types, Activate, Verify, Deactivate, Trigger, RecoveryCodes string
}

// Limits bound how many codes are sent.
type Limits struct {
	UserMax      int
	UserWindow   time.Duration
	TenantMax    int
	TenantWindow time.Duration
	Cooldown     time.Duration
}

// Options configure an API.
type Options struct {
	Engine *authz.Engine
	Store  store.Lifecycle
	// Senders deliver codes per method ("email", "sms"); a method without
	// a sender is not offered.
	Senders map[string]delivery.Sender
	Paths   Paths
	// MaxBodyBytes bounds a body on the HTTP transport.
	MaxBodyBytes int
	// UserSubject answers identity-less requests with 5909 (back-office
	// users) instead of 5905 (customers).
	UserSubject bool
	// CodeLength and CodeTTL shape one-time codes.
	CodeLength int
	CodeTTL    time.Duration
	Limits     Limits
	// EmailClaim and PhoneClaim name JWT claims with verified destinations.
	EmailClaim, PhoneClaim string
	// JWTNamespace and JWTPayloadKey locate the JWT payload in metadata.
	JWTNamespace, JWTPayloadKey string
	TOTP                        totp.Config
	Logger                      *zap.Logger
	Now                         func() time.Time
}

// API serves the endpoints.
type API struct {
	o       Options
	methods []string // offered, in order
	log     *zap.Logger
}

// New returns an API.
func New(o Options) (*API, error) {
	if o.Engine == nil || o.Store == nil {
		return nil, errors.New("mfaapi: engine and store are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.CodeLength == 0 {
		o.CodeLength = 6
	}
	if o.CodeTTL == 0 {
		o.CodeTTL = 5 * time.Minute
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 16 << 10
	}
	a := &API{o: o, log: o.Logger, methods: []string{store.MethodTOTP}}
	for _, m := range []string{store.MethodEmail, store.MethodSMS} {
		if o.Senders[m] != nil {
			a.methods = append(a.methods, m)
		}
	}
	return a, nil
}

// Methods returns the offered methods.
func (a *API) Methods() []string { return append([]string(nil), a.methods...) }

func (a *API) offered(m string) bool {
	for _, x := range a.methods {
		if x == m {
			return true
		}
	}
	return false
}

type handler func(ctx context.Context, r *authz.Request, user string) profile.Denial

// route returns the handler of method and path, nil when none.
func (a *API) route(method, target string) handler {
	p, _, _ := strings.Cut(target, "?")
	if p == "" {
		return nil
	}
	m := strings.ToUpper(method)
	switch {
	case m == http.MethodGet && p == a.o.Paths.Types:
		return a.types
	case m != http.MethodPost:
		return nil
	case p == a.o.Paths.Activate:
		return a.activate
	case p == a.o.Paths.Verify:
		return a.verify
	case p == a.o.Paths.Deactivate:
		return a.deactivate
	case p == a.o.Paths.Trigger:
		return a.trigger
	case p == a.o.Paths.RecoveryCodes:
		return a.recoveryCodes
	}
	return nil
}

// Serves implements authz.API.
func (a *API) Serves(method, target string) bool { return a.route(method, target) != nil }

// Handle implements authz.API.
func (a *API) Handle(ctx context.Context, r *authz.Request) (ans profile.Denial, ok bool) {
	h := a.route(r.Method, r.Path)
	if h == nil {
		return profile.Denial{}, false
	}
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("self-service endpoint panicked", zap.String("panic", fmt.Sprint(p)), zap.Stack("stack"))
			ans, ok = a.deny(r, profile.Unavailable, 0), true
		}
	}()
	user, _ := a.o.Engine.Identity(r)
	if user == "" {
		if a.o.UserSubject {
			return a.deny(r, profile.NoUserIdentifier, 0), true
		}
		return a.deny(r, profile.NoIdentity, 0), true
	}
	return h(ctx, r, user), true
}

func (a *API) deny(r *authz.Request, reason profile.Reason, retry time.Duration) profile.Denial {
	return a.o.Engine.DenialFor(r, reason, retry)
}

// glue reports whether the active profile is Spryker's.
func (a *API) glue() bool { return a.o.Engine.Profile().Name() == profile.Glue }

// ---------------------------------------------------------------------------
// Bodies.

var noContent = profile.Denial{Status: http.StatusNoContent}

func document(status int, data any) profile.Denial {
	b, err := json.Marshal(struct {
		Data any `json:"data"`
	}{data})
	if err != nil {
		panic(err) // strings, ints and slices of them only
	}
	return profile.Denial{Status: status, ContentType: profile.GlueContentType, Body: string(b)}
}

type resource struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Attributes any    `json:"attributes"`
}

// requestBody is the JSON:API body the POST endpoints take.
type requestBody struct {
	Data *struct {
		Type       string          `json:"type"`
		Attributes json.RawMessage `json:"attributes"`
	} `json:"data"`
}

type attributes struct {
	Type        *string `json:"type"`
	Destination string  `json:"destination"`
}

// parse reads r's body as a JSON:API document of resource type want and
// returns its attributes; a failure is the answer to send.
func (a *API) parse(r *authz.Request, want string) (*attributes, *profile.Denial) {
	bad := func() (*attributes, *profile.Denial) {
		d := a.deny(r, profile.InvalidBody, 0)
		return nil, &d
	}
	if r.BodyTruncated || len(r.Body) == 0 || len(r.Body) > a.o.MaxBodyBytes {
		return bad()
	}
	var doc requestBody
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	if err := dec.Decode(&doc); err != nil || dec.More() || doc.Data == nil || doc.Data.Type != want {
		return bad()
	}
	var at attributes
	if len(doc.Data.Attributes) > 0 && string(doc.Data.Attributes) != "null" {
		if err := json.Unmarshal(doc.Data.Attributes, &at); err != nil {
			return bad()
		}
	}
	if at.Type == nil || strings.TrimSpace(*at.Type) == "" {
		d := a.deny(r, profile.TypeMissing, 0)
		return nil, &d
	}
	*at.Type = strings.ToLower(strings.TrimSpace(*at.Type))
	if !a.offered(*at.Type) {
		d := a.deny(r, profile.TypeNotFound, 0)
		return nil, &d
	}
	return &at, nil
}

// enrollment reads the user's enrollment; none is an empty one.
func (a *API) enrollment(ctx context.Context, user string) (*store.Enrollment, error) {
	enr, err := a.o.Store.Enrollment(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return &store.Enrollment{}, nil
	}
	return enr, err
}

func (a *API) unavailable(r *authz.Request, what string, err error) profile.Denial {
	a.log.Error("self-service endpoint failed", zap.String("step", what), zap.Error(err))
	return a.deny(r, profile.Unavailable, 0)
}

// Status returns the status of method for enr.
func Status(enr *store.Enrollment, method string) int {
	switch method {
	case store.MethodTOTP:
		switch {
		case enr.TOTP == nil:
			return StatusDisabled
		case enr.TOTP.Pending:
			return StatusInProgress
		}
		return StatusEnabled
	case store.MethodEmail, store.MethodSMS:
		f := oob(enr, method)
		switch {
		case f == nil:
			return StatusDisabled
		case !f.Enabled:
			return StatusInProgress
		}
		return StatusEnabled
	}
	return StatusDisabled
}

func oob(enr *store.Enrollment, method string) *store.OOB {
	if method == store.MethodEmail {
		return enr.Email
	}
	return enr.SMS
}

// ---------------------------------------------------------------------------
// Endpoints.

func (a *API) types(ctx context.Context, r *authz.Request, user string) profile.Denial {
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		return a.unavailable(r, "read enrollment", err)
	}
	type attrs struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	}
	list := make([]resource, 0, len(a.methods))
	for _, m := range a.methods {
		list = append(list, resource{Type: TypeTypes, ID: m, Attributes: attrs{m, Status(enr, m)}})
	}
	return document(http.StatusOK, list)
}

func (a *API) activate(ctx context.Context, r *authz.Request, user string) profile.Denial {
	at, bad := a.parse(r, TypeActivate)
	if bad != nil {
		return *bad
	}
	method := *at.Type
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		return a.unavailable(r, "read enrollment", err)
	}
	if Status(enr, method) == StatusEnabled {
		return a.deny(r, profile.AlreadyEnabled, 0)
	}
	now := a.o.Now()
	if ans, ok := a.requireStepUp(ctx, r, user, enr, now); !ok {
		return ans
	}
	if method == store.MethodTOTP {
		f, key, err := totp.Generate(a.o.TOTP, user, now)
		if err != nil {
			return a.unavailable(r, "generate totp", err)
		}
		f.Pending = true
		err = a.o.Store.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
			next := copyEnrollment(cur)
			if Status(next, method) == StatusEnabled {
				return nil, errAlreadyEnabled
			}
			next.TOTP = f
			return next, nil
		})
		if errors.Is(err, errAlreadyEnabled) {
			return a.deny(r, profile.AlreadyEnabled, 0)
		}
		if err != nil {
			return a.unavailable(r, "store pending totp", err)
		}
		type attrs struct {
			Type   string `json:"type"`
			Secret string `json:"secret"`
			URI    string `json:"uri"`
		}
		return document(http.StatusOK, resource{Type: TypeActivate, ID: method, Attributes: attrs{method, f.Secret, key.URL()}})
	}
	dest, reason := a.destination(r, method, at.Destination)
	if reason != 0 {
		return a.deny(r, reason, 0)
	}
	if ans, ok := a.admitSend(ctx, r, user, method); !ok {
		return ans
	}
	err = a.o.Store.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		next := copyEnrollment(cur)
		if Status(next, method) == StatusEnabled {
			return nil, errAlreadyEnabled
		}
		f := &store.OOB{Destination: dest, CreatedAt: now.UTC()}
		if method == store.MethodEmail {
			next.Email = f
		} else {
			next.SMS = f
		}
		return next, nil
	})
	if errors.Is(err, errAlreadyEnabled) {
		return a.deny(r, profile.AlreadyEnabled, 0)
	}
	if err != nil {
		return a.unavailable(r, "store pending factor", err)
	}
	return a.send(ctx, r, user, method, dest)
}

// requireStepUp lets a user with an enabled factor add another only after
// proving an enabled one: within a recent step-up, or with its code in the
// MFA header now (which starts a session). Without this, whoever holds the
// first factor alone could enroll a factor of their own and pass step-up.
func (a *API) requireStepUp(ctx context.Context, r *authz.Request, user string, enr *store.Enrollment, now time.Time) (profile.Denial, bool) {
	if len(enr.Methods()) == 0 || a.o.Engine.SteppedUp(ctx, user, now) {
		return profile.Denial{}, true
	}
	p := a.o.Engine.Prove(ctx, r, user, enr, "", now)
	switch {
	case p.OK:
		a.o.Engine.StartSession(user, p.Method, now)
		return profile.Denial{}, true
	case p.Reason == profile.Missing:
		return a.deny(r, profile.StepUpRequired, 0), false
	default:
		return a.deny(r, p.Reason, p.RetryAfter), false
	}
}

var (
	errAlreadyEnabled = errors.New("already enabled")
	errNotEnabled     = errors.New("not enabled")
)

func copyEnrollment(cur *store.Enrollment) *store.Enrollment {
	if cur == nil {
		return &store.Enrollment{}
	}
	next := *cur
	next.Recovery = append([]store.RecoveryCode(nil), cur.Recovery...)
	return &next
}

// destination picks where codes of method go: the verified JWT claim when
// the request carries one, else the destination the body registers.
func (a *API) destination(r *authz.Request, method, given string) (string, profile.Reason) {
	claim, reason, valid := a.o.EmailClaim, profile.InvalidEmail, delivery.ValidEmail
	if method == store.MethodSMS {
		claim, reason, valid = a.o.PhoneClaim, profile.InvalidPhoneNumber, delivery.ValidPhone
	}
	dest := strings.TrimSpace(given)
	if ns := r.Metadata[a.o.JWTNamespace]; ns != nil {
		if payload := ns.GetFields()[a.o.JWTPayloadKey].GetStructValue(); payload != nil {
			if v, ok := payload.GetFields()[claim]; ok {
				if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
					dest = s.StringValue
				}
			}
		}
	}
	if !valid(dest) {
		return "", reason
	}
	return dest, 0
}

func (a *API) verify(ctx context.Context, r *authz.Request, user string) profile.Denial {
	at, bad := a.parse(r, TypeVerify)
	if bad != nil {
		return *bad
	}
	method := *at.Type
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		return a.unavailable(r, "read enrollment", err)
	}
	switch Status(enr, method) {
	case StatusEnabled:
		return a.deny(r, profile.AlreadyEnabled, 0)
	case StatusDisabled:
		return a.deny(r, profile.NotEnrolled, 0)
	}
	if len(enr.Methods()) > 0 && !a.o.Engine.SteppedUp(ctx, user, a.o.Now()) {
		// The code in the header is the new factor's: the step-up that
		// activate demanded must still be fresh.
		return a.deny(r, profile.StepUpRequired, 0)
	}
	p := a.o.Engine.Prove(ctx, r, user, enr, method, a.o.Now())
	if !p.OK {
		return a.deny(r, p.Reason, p.RetryAfter)
	}
	if p.Method != method {
		// Another factor's code cannot activate this one.
		return a.deny(r, profile.Invalid, 0)
	}
	var codes []string
	err = a.o.Store.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		next := copyEnrollment(cur)
		switch Status(next, method) {
		case StatusEnabled:
			return nil, errAlreadyEnabled
		case StatusDisabled:
			return nil, errNotEnabled
		}
		first := len(next.Methods()) == 0
		if method == store.MethodTOTP {
			t := *next.TOTP
			t.Pending = false
			next.TOTP = &t
		} else {
			f := *oob(next, method)
			f.Enabled = true
			if method == store.MethodEmail {
				next.Email = &f
			} else {
				next.SMS = &f
			}
		}
		if first && next.UnusedRecoveryCodes() == 0 {
			c, err := otc.GenerateRecovery(otc.RecoveryCount)
			if err != nil {
				return nil, err
			}
			codes = c
			next.Recovery = otc.HashRecovery(a.o.Store, user, c)
		}
		return next, nil
	})
	switch {
	case errors.Is(err, errAlreadyEnabled):
		return a.deny(r, profile.AlreadyEnabled, 0)
	case errors.Is(err, errNotEnabled):
		return a.deny(r, profile.NotEnrolled, 0)
	case err != nil:
		return a.unavailable(r, "enable factor", err)
	}
	if codes != nil {
		return recoveryDocument(codes)
	}
	return noContent
}

func recoveryDocument(codes []string) profile.Denial {
	type attrs struct {
		Codes []string `json:"codes"`
	}
	return document(http.StatusOK, resource{Type: TypeRecoveryCodes, ID: store.MethodRecovery, Attributes: attrs{codes}})
}

func (a *API) deactivate(ctx context.Context, r *authz.Request, user string) profile.Denial {
	at, bad := a.parse(r, TypeDeactivate)
	if bad != nil {
		return *bad
	}
	method := *at.Type
	failed := func(reason profile.Reason, retry time.Duration) profile.Denial {
		// Glue has one code for every refused deactivation; lockouts and
		// outages keep their own answers.
		if a.glue() && reason != profile.TooManyAttempts && reason != profile.Unavailable {
			reason = profile.DeactivationFailed
		}
		return a.deny(r, reason, retry)
	}
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		return a.unavailable(r, "read enrollment", err)
	}
	switch Status(enr, method) {
	case StatusDisabled:
		return failed(profile.NotEnrolled, 0)
	case StatusEnabled:
		// Removing a working factor needs a code of an enabled factor (or a
		// recovery code); cancelling an activation in progress does not.
		p := a.o.Engine.Prove(ctx, r, user, enr, "", a.o.Now())
		if !p.OK {
			return failed(p.Reason, p.RetryAfter)
		}
	}
	err = a.o.Store.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		next := copyEnrollment(cur)
		if Status(next, method) == StatusDisabled {
			return nil, errNotEnabled
		}
		switch method {
		case store.MethodTOTP:
			next.TOTP = nil
		case store.MethodEmail:
			next.Email = nil
		case store.MethodSMS:
			next.SMS = nil
		}
		if len(next.Methods()) == 0 {
			next.Recovery = nil
		}
		if next.TOTP == nil && next.Email == nil && next.SMS == nil {
			return nil, nil
		}
		return next, nil
	})
	if errors.Is(err, errNotEnabled) {
		return failed(profile.NotEnrolled, 0)
	}
	if err != nil {
		return a.unavailable(r, "remove factor", err)
	}
	if method != store.MethodTOTP {
		_ = a.o.Store.UpdatePendingCode(ctx, user, method, func(*store.PendingCode) (*store.PendingCode, error) { return nil, nil })
	}
	return noContent
}

func (a *API) trigger(ctx context.Context, r *authz.Request, user string) profile.Denial {
	at, bad := a.parse(r, TypeTrigger)
	if bad != nil {
		return *bad
	}
	method := *at.Type
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		return a.unavailable(r, "read enrollment", err)
	}
	if Status(enr, method) != StatusEnabled {
		return a.deny(r, profile.NotEnrolled, 0)
	}
	if method == store.MethodTOTP {
		// The authenticator app shows the code: nothing to send.
		return noContent
	}
	if ans, ok := a.admitSend(ctx, r, user, method); !ok {
		return ans
	}
	return a.send(ctx, r, user, method, oob(enr, method).Destination)
}

func (a *API) recoveryCodes(ctx context.Context, r *authz.Request, user string) profile.Denial {
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		return a.unavailable(r, "read enrollment", err)
	}
	if len(enr.Methods()) == 0 {
		return a.deny(r, profile.NotEnrolled, 0)
	}
	p := a.o.Engine.Prove(ctx, r, user, enr, "", a.o.Now())
	if !p.OK {
		return a.deny(r, p.Reason, p.RetryAfter)
	}
	codes, err := Regenerate(ctx, a.o.Store, user)
	if errors.Is(err, errNotEnabled) {
		return a.deny(r, profile.NotEnrolled, 0)
	}
	if err != nil {
		return a.unavailable(r, "regenerate recovery codes", err)
	}
	return recoveryDocument(codes)
}

// Regenerate replaces the user's recovery codes with new ones and returns
// them; the user must have an enabled method.
func Regenerate(ctx context.Context, st store.Lifecycle, user string) ([]string, error) {
	codes, err := otc.GenerateRecovery(otc.RecoveryCount)
	if err != nil {
		return nil, err
	}
	err = st.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		if cur == nil || len(cur.Methods()) == 0 {
			return nil, errNotEnabled
		}
		next := copyEnrollment(cur)
		next.Recovery = otc.HashRecovery(st, user, codes)
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// IsNotEnabled reports whether err says the user has no enabled method.
func IsNotEnabled(err error) bool { return errors.Is(err, errNotEnabled) }

// ---------------------------------------------------------------------------
// Sending codes.

// admitSend applies the resend cooldown and the send limits.
func (a *API) admitSend(ctx context.Context, r *authz.Request, user, method string) (profile.Denial, bool) {
	now := a.o.Now()
	l := a.o.Limits
	var wait time.Duration
	err := a.o.Store.UpdatePendingCode(ctx, user, method, func(cur *store.PendingCode) (*store.PendingCode, error) {
		if cur != nil && l.Cooldown > 0 {
			if since := now.Sub(cur.SentAt); since >= 0 && since < l.Cooldown {
				wait = l.Cooldown - since
			}
		}
		return nil, store.ErrNoChange
	})
	if err != nil {
		return a.unavailable(r, "read pending code", err), false
	}
	if wait > 0 {
		return a.deny(r, profile.ResendCooldown, wait), false
	}
	userReason, tenantReason := profile.TooManyEmails, profile.TooManyEmailsPerTenant
	if method == store.MethodSMS {
		userReason, tenantReason = profile.TooManySMS, profile.TooManySMSPerTenant
	}
	if l.UserMax > 0 {
		ok, reset, err := a.o.Store.Hit(ctx, "user\x00"+method+"\x00"+user, l.UserWindow, l.UserMax, now)
		if err != nil {
			return a.unavailable(r, "user send counter", err), false
		}
		if !ok {
			return a.deny(r, userReason, reset.Sub(now)), false
		}
	}
	if l.TenantMax > 0 {
		ok, reset, err := a.o.Store.Hit(ctx, "tenant\x00"+method, l.TenantWindow, l.TenantMax, now)
		if err != nil {
			return a.unavailable(r, "tenant send counter", err), false
		}
		if !ok {
			return a.deny(r, tenantReason, reset.Sub(now)), false
		}
	}
	return profile.Denial{}, true
}

// send makes a new code for the user's method, stores its hash (replacing
// any earlier code) and hands it to the method's sender.
func (a *API) send(ctx context.Context, r *authz.Request, user, method, dest string) profile.Denial {
	sender := a.o.Senders[method]
	if sender == nil {
		return a.deny(r, profile.TypeNotFound, 0)
	}
	code, err := otc.Generate(a.o.CodeLength)
	if err != nil {
		return a.unavailable(r, "generate code", err)
	}
	now := a.o.Now()
	expires := now.Add(a.o.CodeTTL)
	err = a.o.Store.UpdatePendingCode(ctx, user, method, func(*store.PendingCode) (*store.PendingCode, error) {
		return &store.PendingCode{Hash: a.o.Store.SecretHash(user, otc.Purpose(method), code),
			Destination: dest, SentAt: now.UTC(), ExpiresAt: expires.UTC()}, nil
	})
	if err != nil {
		return a.unavailable(r, "store code", err)
	}
	if err := sender.Send(ctx, delivery.Message{User: user, Method: method, Destination: dest, Code: code, ExpiresAt: expires}); err != nil {
		a.log.Error("MFA code not delivered", zap.String("method", method), zap.String("user_hash", authz.HashUser(user)), zap.Error(err))
		_ = a.o.Store.UpdatePendingCode(ctx, user, method, func(*store.PendingCode) (*store.PendingCode, error) { return nil, nil })
		return a.deny(r, profile.DeliveryFailed, 0)
	}
	a.log.Info("MFA code sent", zap.String("method", method), zap.String("to", delivery.Mask(dest)),
		zap.String("user_hash", authz.HashUser(user)))
	return noContent
}

// ---------------------------------------------------------------------------
// HTTP transport.

// Handler serves the endpoints over plain HTTP and hands every other
// request to next (nil: 404).
func (a *API) Handler(next http.Handler) http.Handler {
	if next == nil {
		next = http.NotFoundHandler()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		if a.route(hr.Method, hr.URL.Path) == nil {
			next.ServeHTTP(w, hr)
			return
		}
		r := &authz.Request{
			Method: hr.Method,
			Host:   hr.Host,
			Path:   hr.URL.RequestURI(),
			ID:     hr.Header.Get("X-Request-Id"),
			Header: httpHeader(hr.Header),
		}
		if hr.Body != nil {
			body, err := readBody(hr, a.o.MaxBodyBytes)
			r.Body = body
			r.BodyTruncated = err != nil
		}
		ans, _ := a.Handle(hr.Context(), r)
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		if ans.ContentType != "" {
			h.Set("Content-Type", ans.ContentType)
		}
		if ans.RetryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int((ans.RetryAfter+time.Second-1)/time.Second)))
		}
		w.WriteHeader(ans.Status)
		if ans.Status != http.StatusNoContent {
			_, _ = w.Write([]byte(ans.Body))
		}
	})
}

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

func (h httpHeader) Lookup(name string) (string, int) {
	vs := http.Header(h).Values(name)
	if len(vs) == 0 {
		return "", 0
	}
	return vs[0], len(vs)
}
