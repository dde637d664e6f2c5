package service

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/authz/factor/webauthn"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/telemetry"
)

// newAPI builds the self-service endpoints from the api, codes, limits and
// delivery sections and installs them in the engine; nil when api.enabled
// is false.
func newAPI(c *config.Config, log *zap.Logger, eng *authz.Engine, st store.Store, m *telemetry.Metrics, wa *webauthn.Factor) (*mfaapi.API, error) {
	if !c.API.Enabled {
		return nil, nil
	}
	senders, err := c.Delivery.Senders()
	if err != nil {
		return nil, err
	}
	names := c.Delivery.SenderNames()
	for method, s := range senders {
		senders[method] = delivery.Counted(s, m.SendOutcome(names[method]))
	}
	if c.Delivery.UsesFile() {
		log.Warn("delivery: one-time codes are written to a local outbox file; use it for development only",
			zap.String("path", c.Delivery.FileConfig.Path))
	}
	api, err := mfaapi.New(mfaapi.Options{
		Engine:  eng,
		Store:   enrollmentWatch{Store: st, eng: eng},
		Senders: senders,
		Paths: mfaapi.Paths{
			Types: c.API.TypesPath, Activate: c.API.ActivatePath, Verify: c.API.VerifyPath,
			Deactivate: c.API.DeactivatePath, Trigger: c.API.TriggerPath, RecoveryCodes: c.API.RecoveryCodesPath,
		},
		MaxBodyBytes: c.API.MaxBodyBytes,
		UserSubject:  c.API.Subject == "user",
		CodeLength:   c.Codes.Length,
		CodeTTL:      c.Codes.TTL,
		Limits: mfaapi.Limits{
			UserMax: c.Limits.UserMaxSends, UserWindow: c.Limits.UserWindow,
			TenantMax: c.Limits.TenantMaxSends, TenantWindow: c.Limits.TenantWindow,
			Cooldown: c.Limits.ResendCooldown,
		},
		EmailClaim:    c.Delivery.EmailClaim,
		PhoneClaim:    c.Delivery.PhoneClaim,
		JWTNamespace:  c.Identity.JWTMetadata.Namespace,
		JWTPayloadKey: c.Identity.JWTMetadata.PayloadKey,
		TOTP:          c.TOTP,
		WebAuthn:      wa,
		WebAuthnPaths: mfaapi.WebAuthnPaths{
			RegistrationOptions: c.API.WebAuthnRegistrationOptionsPath, Registration: c.API.WebAuthnRegistrationPath,
			Challenge: c.API.WebAuthnChallengePath, Verify: c.API.WebAuthnVerifyPath,
		},
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	eng.SetAPI(api)
	return api, nil
}

// apiHandler serves the self-service endpoints on the HTTP listener in
// front of next.
func (s *Service) apiHandler(next http.Handler) http.Handler {
	if s.API == nil {
		return next
	}
	return s.API.Handler(next)
}

// enrollmentWatch is the store as the self-service endpoints see it: every
// change to a user's enrollment made through it also drops the engine's
// memory of who is enrolled (authz.Engine.ForgetEnrollment), so that the
// user's next code-less request is answered from the new enrollment.
type enrollmentWatch struct {
	store.Store
	eng *authz.Engine
}

// UpdateEnrollment implements store.Store.
func (w enrollmentWatch) UpdateEnrollment(ctx context.Context, user string, fn func(*store.Enrollment) (*store.Enrollment, error)) error {
	defer w.eng.ForgetEnrollment(user)
	return w.Store.UpdateEnrollment(ctx, user, fn)
}

// PutEnrollment implements store.Store.
func (w enrollmentWatch) PutEnrollment(ctx context.Context, user string, e *store.Enrollment, replace bool) error {
	defer w.eng.ForgetEnrollment(user)
	return w.Store.PutEnrollment(ctx, user, e, replace)
}

// DeleteEnrollment implements store.Store.
func (w enrollmentWatch) DeleteEnrollment(ctx context.Context, user string) error {
	defer w.eng.ForgetEnrollment(user)
	return w.Store.DeleteEnrollment(ctx, user)
}

// newWebAuthn builds the WebAuthn factor from the webauthn section; nil
// when the section is not configured, so the factor is not offered.
func newWebAuthn(c *config.Config, log *zap.Logger) (*webauthn.Factor, error) {
	if !c.WebAuthn.Enabled() {
		return nil, nil
	}
	return webauthn.New(c.WebAuthn, webauthn.Options{Logger: log, UserTag: authz.HashUser})
}
