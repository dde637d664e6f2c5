package mfaapi

import (
	"context"
	"encoding/hex"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Sending codes, for activate and trigger. Only a code's hash is stored,
// under the user's lock, so a code is checked (otc.Use) like a password.

// admitSend applies the resend cooldown and the send limits to a code of
// method for user to dest; activation reports a code for an activation,
// whose destination the request chose, rather than for a trigger, whose
// destination was registered and proven at activation.
//
// The cooldown is checked first because it counts nothing: a client
// retrying too fast must not use up the user's sends. It reads when the
// user's pending code was sent; for an activation, a counter per user and
// method holds it too, because cancelling an activation deletes the
// pending code (and with it the time it was sent) but not the counter,
// so activate, cancel, activate cannot send a code per round.
//
// An activation also counts against its destination (keyed by a hash of
// it, never the address or number itself), with the user limit's numbers,
// so that users (or identities, such as bearer-token fingerprints, that
// cost nothing to make) cannot together flood one inbox or phone with
// codes. Triggers do not count there: whoever can activate any destination
// must not be able to hold back the codes its owner asks for.
func (a *API) admitSend(ctx context.Context, r *authz.Request, user, method, dest string, activation bool) (profile.Answer, bool) {
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
	if activation && l.Cooldown > 0 {
		ok, reset, err := a.o.Store.Hit(ctx, "cooldown\x00activate\x00"+method+"\x00"+user, l.Cooldown, 1, now)
		if err != nil {
			return a.unavailable(r, "resend cooldown counter", err), false
		}
		if !ok {
			return a.deny(r, profile.ResendCooldown, reset.Sub(now)), false
		}
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
	if activation && l.UserMax > 0 {
		ok, reset, err := a.o.Store.Hit(ctx, "destination\x00"+method+"\x00"+a.destinationKey(method, dest), l.UserWindow, l.UserMax, now)
		if err != nil {
			return a.unavailable(r, "destination send counter", err), false
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
	return profile.Answer{}, true
}

// destinationKey names dest's send counter: a keyed hash, so that the
// counter's key (which a store may name in an error, hence in a log) never
// holds an address or number. E-mail addresses are compared without regard
// to case, as mail systems deliver them.
func (a *API) destinationKey(method, dest string) string {
	if method == store.MethodEmail {
		dest = strings.ToLower(dest)
	}
	return hex.EncodeToString(a.o.Store.SecretHash("", "send-destination:"+method, dest))
}

// send makes a new code for the user's method, stores its hash (replacing
// any earlier code) and hands it to the method's sender. A code that could
// not be delivered is removed: nobody should have it, and it would hold the
// resend cooldown of a trigger against the user's next try. (An
// activation's cooldown counter holds regardless: a delivery that timed
// out may still have reached the destination.)
func (a *API) send(ctx context.Context, r *authz.Request, user, method, dest string) profile.Answer {
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
