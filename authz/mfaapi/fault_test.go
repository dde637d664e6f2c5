package mfaapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// faultStore wraps the service's store to make one kind of call fail, or
// to make UpdateEnrollment lose its first swap to a concurrent writer as
// the Redis store's optimistic updates can: fn runs, its result is
// dropped, race changes the stored enrollment, and fn runs again. Or
// interleave runs another request (on the service's own API and store)
// at the first UpdateEnrollment, before it reads: between the endpoint's
// first read and its locked update, where a concurrent request can land.
type faultStore struct {
	store.Store
	failRead, failUpdate, failPending, failHit error
	panics                                     bool
	race                                       func(cur *store.Enrollment) *store.Enrollment
	interleave                                 func()
}

var errDown = errors.New("store down")

func (s *faultStore) Enrollment(ctx context.Context, user string) (*store.Enrollment, error) {
	if s.panics {
		panic("store bug")
	}
	if s.failRead != nil {
		return nil, s.failRead
	}
	return s.Store.Enrollment(ctx, user)
}

func (s *faultStore) UpdateEnrollment(ctx context.Context, user string, fn func(*store.Enrollment) (*store.Enrollment, error)) error {
	if s.failUpdate != nil {
		return s.failUpdate
	}
	if other := s.interleave; other != nil {
		s.interleave = nil
		other()
	}
	if race := s.race; race != nil {
		s.race = nil
		cur, err := s.Store.Enrollment(ctx, user)
		if errors.Is(err, store.ErrNotFound) {
			cur, err = nil, nil
		}
		if err != nil {
			return err
		}
		if _, err := fn(cur); errors.Is(err, store.ErrNoChange) {
			return nil
		} else if err != nil {
			return err
		}
		err = s.Store.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) { return race(cur), nil })
		if err != nil {
			return err
		}
	}
	return s.Store.UpdateEnrollment(ctx, user, fn)
}

func (s *faultStore) UpdatePendingCode(ctx context.Context, user, method string, fn func(*store.PendingCode) (*store.PendingCode, error)) error {
	if s.failPending != nil {
		return s.failPending
	}
	return s.Store.UpdatePendingCode(ctx, user, method, fn)
}

func (s *faultStore) Hit(ctx context.Context, key string, window time.Duration, limit int, now time.Time) (bool, time.Time, error) {
	if s.failHit != nil {
		return false, time.Time{}, s.failHit
	}
	return s.Store.Hit(ctx, key, window, limit, now)
}

func (s *faultStore) Reserve(ctx context.Context, limits []store.Limit, now time.Time) (int, time.Time, error) {
	if s.failHit != nil {
		return 0, time.Time{}, s.failHit
	}
	return s.Store.Reserve(ctx, limits, now)
}

// newAPI is an API on the service's engine over st, with the clock now
// (nil: time.Now).
func newAPI(t *testing.T, e *env, st store.Store, now func() time.Time) *mfaapi.API {
	t.Helper()
	sender, err := delivery.NewFile(e.outbox)
	if err != nil {
		t.Fatal(err)
	}
	api, err := mfaapi.New(mfaapi.Options{
		Engine: e.svc.Engine, Store: st,
		Senders: map[string]delivery.Sender{"email": sender, "sms": sender},
		Paths: mfaapi.Paths{Types: config.DefaultTypesPath, Activate: config.DefaultActivatePath,
			Verify: config.DefaultVerifyPath, Deactivate: config.DefaultDeactivatePath,
			Trigger: config.DefaultTriggerPath, RecoveryCodes: config.DefaultRecoveryCodesPath},
		Limits: mfaapi.Limits{UserMax: 10, UserWindow: time.Hour, TenantMax: 10, TenantWindow: time.Hour,
			Cooldown: e.svc.Config.Limits.ResendCooldown},
		TOTP: e.svc.Config.TOTP,
		Now:  now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

func TestNewRequiresEngineAndStore(t *testing.T) {
	e := newEnv(t, opts{})
	if _, err := mfaapi.New(mfaapi.Options{Store: e.st}); err == nil {
		t.Error("New without an engine succeeded")
	}
	if _, err := mfaapi.New(mfaapi.Options{Engine: e.svc.Engine}); err == nil {
		t.Error("New without a store succeeded")
	}
}

// A failing store is an outage (5912), never an answer about the user,
// and a panic is answered, not propagated. A concurrent change between
// an endpoint's read and its locked update gets the answer the endpoint
// gives when it reads that state up front.
func TestStoreFaults(t *testing.T) {
	activate := func(method, dest string) req {
		return req{path: config.DefaultActivatePath, user: "alice",
			body: body(mfaapi.TypeActivate, method, `"destination":`+quote(dest))}
	}
	verify := req{path: config.DefaultVerifyPath, user: "alice", body: body(mfaapi.TypeVerify, "totp")}
	deactivate := req{path: config.DefaultDeactivatePath, user: "alice", body: body(mfaapi.TypeDeactivate, "totp")}
	trigger := req{path: config.DefaultTriggerPath, user: "alice", body: body(mfaapi.TypeTrigger, "email")}
	recovery := req{path: config.DefaultRecoveryCodesPath, user: "alice"}
	types := req{method: "GET", path: config.DefaultTypesPath, user: "alice"}
	rightTOTP := func(t *testing.T, e *env) string { return "totp " + totpCode(t, e.totp) }
	pendingTOTP := func(t *testing.T, e *env) { e.pendingTOTP(t, "alice") }
	enabledTOTP := func(t *testing.T, e *env) { e.enabledTOTP(t, "alice") }
	enabledEmail := func(t *testing.T, e *env) { e.oob(t, "alice", "email", aliceEmail, true) }
	unavailable := glue(profile.Unavailable, "5912")
	removeAll := func(*store.Enrollment) *store.Enrollment { return nil }

	rows := []struct {
		row
		fault faultStore
	}{
		{row: row{name: "types, read fails", req: types, want: unavailable}, fault: faultStore{failRead: errDown}},
		{row: row{name: "types, read fails, problem", opts: opts{profile: profile.Problem}, req: types,
			want: problem(profile.Unavailable)}, fault: faultStore{failRead: errDown}},
		{row: row{name: "types, store panics", req: types, want: unavailable}, fault: faultStore{panics: true}},
		{row: row{name: "activate, read fails", req: activate("totp", ""), want: unavailable}, fault: faultStore{failRead: errDown}},
		{row: row{name: "activate, write fails", req: activate("totp", ""), want: unavailable}, fault: faultStore{failUpdate: errDown}},
		{row: row{name: "activate, cooldown check fails", req: activate("email", aliceEmail), want: unavailable},
			fault: faultStore{failPending: errDown}},
		{row: row{name: "activate, send counter fails", req: activate("sms", alicePhone), want: unavailable},
			fault: faultStore{failHit: errDown}},
		{row: row{name: "verify, write fails", req: verify, setup: pendingTOTP, code: rightTOTP, want: unavailable},
			fault: faultStore{failUpdate: errDown}},
		{row: row{name: "deactivate, write fails", req: deactivate, setup: enabledTOTP, code: rightTOTP, want: unavailable},
			fault: faultStore{failUpdate: errDown}},
		{row: row{name: "trigger, read fails", req: trigger, setup: enabledEmail, want: unavailable},
			fault: faultStore{failRead: errDown}},
		{row: row{name: "recovery codes, write fails", req: recovery, setup: enabledTOTP, code: rightTOTP, want: unavailable},
			fault: faultStore{failUpdate: errDown}},

		// Concurrent changes.
		{row: row{name: "activate, enabled meanwhile", req: activate("totp", ""), setup: pendingTOTP,
			want: glue(profile.AlreadyEnabled, "5904")},
			fault: faultStore{race: func(cur *store.Enrollment) *store.Enrollment { cur.TOTP.Pending = false; return cur }}},
		{row: row{name: "activate email, enabled meanwhile", req: activate("email", aliceEmail),
			want: glue(profile.AlreadyEnabled, "5904")},
			fault: faultStore{race: func(*store.Enrollment) *store.Enrollment {
				return &store.Enrollment{Email: &store.OOB{Destination: aliceEmail, Enabled: true}}
			}}},
		{row: row{name: "verify, enabled meanwhile", req: verify, setup: pendingTOTP, code: rightTOTP,
			want: glue(profile.AlreadyEnabled, "5904")},
			fault: faultStore{race: func(cur *store.Enrollment) *store.Enrollment { cur.TOTP.Pending = false; return cur }}},
		{row: row{name: "verify, removed meanwhile", req: verify, setup: pendingTOTP, code: rightTOTP,
			want: glue(profile.FactorNotActive, "5906")}, fault: faultStore{race: removeAll}},
		// The first try made recovery codes for a first factor; when the
		// retry finds another factor enabled meanwhile it makes none, and
		// must not show the first try's, which were never stored. (The
		// user has stepped up: see TestInterleavedRequests for one who
		// has not.)
		{row: row{name: "verify, another factor enabled meanwhile", req: verify,
			setup: func(t *testing.T, e *env) { pendingTOTP(t, e); e.stepUp(t, "alice") }, code: rightTOTP,
			want: is(noContent), after: expectStatus("totp", mfaapi.StatusEnabled)},
			fault: faultStore{race: func(cur *store.Enrollment) *store.Enrollment {
				cur.SMS = &store.OOB{Destination: alicePhone, Enabled: true}
				return cur
			}}},
		{row: row{name: "deactivate, removed meanwhile", req: deactivate, setup: enabledTOTP, code: rightTOTP,
			want: glue(profile.FactorNotActive, "5906")}, fault: faultStore{race: removeAll}},
		{row: row{name: "deactivate, removed meanwhile, problem", opts: opts{profile: profile.Problem}, req: deactivate,
			setup: enabledTOTP, code: rightTOTP, want: problem(profile.FactorNotActive)}, fault: faultStore{race: removeAll}},
		{row: row{name: "recovery codes, removed meanwhile", req: recovery, setup: enabledTOTP, code: rightTOTP,
			want: glue(profile.NotEnrolled, "5920")}, fault: faultStore{race: removeAll}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, r.opts)
			if r.setup != nil {
				r.setup(t, e)
			}
			fs := r.fault
			fs.Store = e.st
			rq := r.req
			if r.code != nil {
				rq.code = r.code(t, e)
			}
			got, ok := newAPI(t, e, &fs, nil).Handle(context.Background(), rq.build())
			if !ok {
				t.Fatal("not answered")
			}
			expect(t, got, r.want(t))
			if r.after != nil {
				r.after(t, e, got)
			}
		})
	}
}

// The engine answers the endpoints through Check, before the policy.
func TestThroughEngine(t *testing.T) {
	e := newEnv(t, opts{})
	d := e.svc.Engine.Check(context.Background(), &authz.Request{Method: "GET", Path: config.DefaultTypesPath,
		Header: authz.MapHeader{"x-user-id": "alice"}})
	if !d.API || d.Answer.Status != 200 || d.Answer.ContentType != profile.JSONContentType {
		t.Fatalf("Check of the types endpoint: %+v", d)
	}
}

// Another request lands between an endpoint's first read and its locked
// update (faultStore.interleave): the update judges the state it finds,
// never the one the endpoint read.
func TestInterleavedRequests(t *testing.T) {
	const mallory = "mallory@example.com"
	// call makes one request on the service's own API and asserts its status.
	call := func(t *testing.T, e *env, r req, status int) profile.Answer {
		t.Helper()
		got, ok := e.svc.API.Handle(context.Background(), r.build())
		if !ok || got.Status != status {
			t.Fatalf("interleaved %s: %d %s, want %d", r.path, got.Status, got.Body, status)
		}
		return got
	}
	verifyReq := func(method, code string) req {
		return req{path: config.DefaultVerifyPath, user: "alice", code: code, body: body(mfaapi.TypeVerify, method)}
	}
	activateReq := func(method string, extra ...string) req {
		return req{path: config.DefaultActivatePath, user: "alice", body: body(mfaapi.TypeActivate, method, extra...)}
	}
	cancelEmail := req{path: config.DefaultDeactivatePath, user: "alice", body: body(mfaapi.TypeDeactivate, "email")}
	pendingEmail := func(t *testing.T, e *env) {
		e.oob(t, "alice", "email", aliceEmail, false)
		e.pendingCode(t, "alice", "email", "123456", 0, time.Minute)
	}
	// victimVerifies: alice's own verify completes her e-mail activation
	// (204).
	victimVerifies := func(t *testing.T, e *env) { call(t, e, verifyReq("email", "email 123456"), 204) }
	// enabledWithCodes: alice's e-mail factor is enabled, as her verify
	// left it.
	enabledWithCodes := func(t *testing.T, e *env, _ profile.Answer) {
		t.Helper()
		enr := e.enrollment(t, "alice")
		if enr == nil || mfaapi.Status(enr, "email") != mfaapi.StatusEnabled {
			t.Errorf("enrollment %+v, want e-mail enabled", enr)
		}
	}
	// malloryPending: the e-mail factor in progress is mallory's, not
	// enabled, and alice got no recovery codes.
	malloryPending := func(t *testing.T, e *env, _ profile.Answer) {
		t.Helper()
		enr := e.enrollment(t, "alice")
		if enr == nil || mfaapi.Status(enr, "email") != mfaapi.StatusInProgress || enr.Email.Destination != mallory || len(enr.Recovery) != 0 {
			t.Errorf("enrollment %+v, want mallory's e-mail in progress and no recovery codes", enr)
		}
	}
	rows := []struct {
		row
		interleave func(t *testing.T, e *env)
	}{
		// Cancelling an activation takes no code, so it must not remove a
		// factor that alice's verify enabled meanwhile.
		{row: row{name: "cancel, enabled meanwhile", req: cancelEmail, setup: pendingEmail,
			want: glue(profile.DeactivationFailed, "5903"), after: enabledWithCodes}, interleave: victimVerifies},
		{row: row{name: "cancel, enabled meanwhile, problem", opts: opts{profile: profile.Problem}, req: cancelEmail,
			setup: pendingEmail, want: problem(profile.DeactivationFailed), after: enabledWithCodes}, interleave: victimVerifies},
		// A factor still in progress, even a replaced one, is cancelled.
		{row: row{name: "cancel, replaced meanwhile", req: cancelEmail, setup: pendingEmail, want: is(noContent),
			after: expectStatus("email", mfaapi.StatusDisabled)},
			interleave: func(t *testing.T, e *env) {
				e.oob(t, "alice", "email", mallory, false)
			}},

		// alice's code proves the destination she activated; a concurrent
		// activate of mallory's address must not be enabled by it.
		{row: row{name: "verify email, destination replaced meanwhile", req: verifyReq("email", "email 123456"),
			setup: pendingEmail, want: glue(profile.Invalid, "5901"),
			after: both(malloryPending, func(t *testing.T, e *env, _ profile.Answer) { e.expectSent(t, "alice", "email", mallory) })},
			interleave: func(t *testing.T, e *env) { call(t, e, activateReq("email", `"destination":`+quote(mallory)), 204) }},
		{row: row{name: "verify email, destination replaced meanwhile, problem", opts: opts{profile: profile.Problem},
			req: verifyReq("email", "email 123456"), setup: pendingEmail, want: problem(profile.Invalid), after: malloryPending},
			interleave: func(t *testing.T, e *env) { call(t, e, activateReq("email", `"destination":`+quote(mallory)), 204) }},
		// The same activation re-registered at another time is another
		// activation too.
		{row: row{name: "verify email, re-activated meanwhile", req: verifyReq("email", "email 123456"),
			setup: pendingEmail, want: glue(profile.Invalid, "5901"), after: expectStatus("email", mfaapi.StatusInProgress)},
			interleave: func(t *testing.T, e *env) {
				e.update(t, "alice", func(enr *store.Enrollment) {
					enr.Email = &store.OOB{Destination: aliceEmail, CreatedAt: enr.Email.CreatedAt.Add(time.Second)}
				})
			}},
		{row: row{name: "verify totp, secret replaced meanwhile", req: verifyReq("totp", ""),
			setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice") },
			code:  func(t *testing.T, e *env) string { return "totp " + totpCode(t, e.totp) },
			want:  glue(profile.Invalid, "5901"), after: func(t *testing.T, e *env, _ profile.Answer) {
				enr := e.enrollment(t, "alice")
				if enr == nil || enr.TOTP == nil || !enr.TOTP.Pending || enr.TOTP.Secret == e.totp.Secret || len(enr.Recovery) != 0 {
					t.Errorf("enrollment %+v, want the new secret in progress, no recovery codes", enr)
				}
			}},
			interleave: func(t *testing.T, e *env) { call(t, e, activateReq("totp"), 200) }},

		// alice had no enabled factor at verify's first read, so no
		// step-up was asked; once one is enabled meanwhile, the new
		// factor is a second one and needs it.
		{row: row{name: "verify, first factor enabled meanwhile, no step-up", req: verifyReq("totp", ""),
			setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice") },
			code:  func(t *testing.T, e *env) string { return "totp " + totpCode(t, e.totp) },
			want:  glue(profile.StepUpRequired, "5919"), after: both(expectStatus("totp", mfaapi.StatusInProgress), expectStatus("sms", mfaapi.StatusEnabled))},
			interleave: func(t *testing.T, e *env) { e.oob(t, "alice", "sms", alicePhone, true) }},
		{row: row{name: "verify, first factor enabled meanwhile, no step-up, problem", opts: opts{profile: profile.Problem},
			req: verifyReq("totp", ""), setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice") },
			code: func(t *testing.T, e *env) string { return "totp " + totpCode(t, e.totp) },
			want: problem(profile.StepUpRequired), after: expectStatus("totp", mfaapi.StatusInProgress)},
			interleave: func(t *testing.T, e *env) { e.oob(t, "alice", "sms", alicePhone, true) }},
		{row: row{name: "verify, first factor enabled meanwhile, stepped up", req: verifyReq("totp", ""),
			setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice") },
			code:  func(t *testing.T, e *env) string { return "totp " + totpCode(t, e.totp) },
			want:  is(noContent), after: expectStatus("totp", mfaapi.StatusEnabled)},
			interleave: func(t *testing.T, e *env) {
				e.oob(t, "alice", "sms", alicePhone, true)
				e.stepUp(t, "alice")
			}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, r.opts)
			if r.setup != nil {
				r.setup(t, e)
			}
			fs := faultStore{Store: e.st, interleave: func() { r.interleave(t, e) }}
			rq := r.req
			if r.code != nil {
				rq.code = r.code(t, e)
			}
			got, ok := newAPI(t, e, &fs, nil).Handle(context.Background(), rq.build())
			if !ok {
				t.Fatal("not answered")
			}
			if fs.interleave != nil {
				t.Fatal("the endpoint made no locked update: nothing was interleaved")
			}
			expect(t, got, r.want(t))
			if r.after != nil {
				r.after(t, e, got)
			}
		})
	}
}
