package mfaapi

import (
	"context"
	"encoding/hex"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Sending codes, for activate and trigger. Only a code's hash is stored,
// under the user's lock, so a code is checked (otc.Use) like a password.

// admitSend applies the resend cooldown and the send limits to a code of
// f for user to dest; activation reports a code for an activation,
// whose destination the request chose, rather than for a trigger, whose
// destination was registered and proven at activation.
//
// Every limit is checked and counted in one atomic store step
// (store.Store.Reserve), all or none: parallel requests, on any
// replica, can pass the cooldown only once and can never spend more than
// a limit allows, and a request refused by one limit spends none of the
// others (so a client retrying too fast does not use up its sends). The
// cooldown is its own counter per user and method, one code per
// cooldown, whatever sent the code (activate or trigger) and whatever
// became of it since (verified, cancelled, not delivered); a pending code
// sent less than a cooldown ago holds it too.
//
// An activation also counts against its destination (keyed by a hash of
// its mailbox, never the address or number itself), with the user limit's
// numbers, so that users (or identities, such as bearer-token
// fingerprints, that cost nothing to make) cannot together flood one
// inbox or phone with codes. Triggers do not count there: whoever can
// activate any destination must not be able to hold back the codes its
// owner asks for.
func (a *API) admitSend(ctx context.Context, r *authz.Request, user string, f factor.Destined, dest string, activation bool) (profile.Answer, bool) {
	method := f.Name()
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
	sr := f.Reasons()
	userReason, tenantReason := sr.UserLimit, sr.TenantLimit
	var (
		limits  []store.Limit
		reasons []profile.Reason
	)
	add := func(key string, window time.Duration, max int, reason profile.Reason) {
		limits = append(limits, store.Limit{Key: key, Window: window, Max: max})
		reasons = append(reasons, reason)
	}
	if l.Cooldown > 0 {
		add("cooldown\x00"+method+"\x00"+user, l.Cooldown, 1, profile.ResendCooldown)
	}
	if l.UserMax > 0 {
		add("user\x00"+method+"\x00"+user, l.UserWindow, l.UserMax, userReason)
		if activation {
			add("destination\x00"+method+"\x00"+a.destinationKey(f, dest), l.UserWindow, l.UserMax, userReason)
		}
	}
	if l.TenantMax > 0 {
		add("tenant\x00"+method, l.TenantWindow, l.TenantMax, tenantReason)
	}
	if len(limits) == 0 {
		return profile.Answer{}, true
	}
	refused, reset, err := a.o.Store.Reserve(ctx, limits, now)
	if err != nil {
		return a.unavailable(r, "send limits", err), false
	}
	if refused >= 0 {
		return a.deny(r, reasons[refused], reset.Sub(now)), false
	}
	return profile.Answer{}, true
}

// destinationKey names dest's send counter: a keyed hash of its mailbox
// (factor.Destined.Mailbox: one counter for every spelling that reaches
// the same inbox), so that the counter's key (which a store may name in an
// error, hence in a log) never holds an address or number.
func (a *API) destinationKey(f factor.Destined, dest string) string {
	return hex.EncodeToString(a.o.Store.SecretHash("", "send-destination:"+f.Name(), f.Mailbox(dest)))
}

// send makes a new code of the user's factor f, stores its hash (replacing
// any earlier code) and hands it to f's sender. A code that could
// not be delivered is removed: nobody should have it. (The cooldown holds
// regardless: a delivery that timed out may still have reached the
// destination.)
func (a *API) send(ctx context.Context, r *authz.Request, user string, f factor.Destined, dest string) profile.Answer {
	method := f.Name()
	sender := a.o.Senders[f.Delivery()]
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
