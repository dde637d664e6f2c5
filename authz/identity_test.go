package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/policy"
)

// TestBearerIdentity: with the bearer fingerprint as the identity source, an
// Authorization header that is present but names no token is an unusable
// identity, denied even when anonymous requests are allowed.
func TestBearerIdentity(t *testing.T) {
	sum := sha256.Sum256([]byte("abc.def"))
	fp := "sha256:" + hex.EncodeToString(sum[:])
	for _, anonymous := range []string{"deny", "allow"} {
		f := newFixture(t, func(o *Options, p *policy.Config) {
			o.Identity.Header = ""
			o.Identity.BearerFingerprint = true
			p.Anonymous = anonymous
		})
		for _, c := range []struct {
			name   string
			header MapHeader
			user   string // "" for no user
			detail string // expected detail when user is ""
		}{
			{"bearer token", MapHeader{"authorization": "Bearer abc.def"}, fp, ""},
			{"lower-case scheme", MapHeader{"authorization": "bearer abc.def"}, fp, ""},
			{"padded", MapHeader{"authorization": "  Bearer   abc.def  "}, fp, ""},
			{"bearer and space", MapHeader{"authorization": "Bearer "}, "", "unusable authorization header"},
			{"bearer alone", MapHeader{"authorization": "Bearer"}, "", "unusable authorization header"},
			{"bearer and blanks", MapHeader{"authorization": "Bearer \t "}, "", "unusable authorization header"},
			{"empty header", MapHeader{"authorization": ""}, "", "unusable authorization header"},
			{"basic", MapHeader{"authorization": "Basic YWxpY2U6cHc="}, "", "unusable authorization header"},
			{"token without scheme", MapHeader{"authorization": "abc.def"}, "", "unusable authorization header"},
			{"no header", MapHeader{}, "", ""},
		} {
			r := &Request{Method: "POST", Host: "shop.example.com", Path: "/carts/1", Header: c.header}
			user, detail := f.engine.Identity(r)
			if user != c.user || (user == "" && detail != c.detail) {
				t.Errorf("%s/%s: identity %q, %q; want %q, %q", anonymous, c.name, user, detail, c.user, c.detail)
			}
			d := f.engine.Check(t.Context(), r)
			switch {
			case c.user != "":
				if d.Allowed || d.Reason != profile.NotEnrolled || d.User != c.user {
					t.Errorf("%s/%s: allowed=%t reason=%s user=%q; want not enrolled as %q", anonymous, c.name, d.Allowed, d.Reason, d.User, c.user)
				}
			case c.detail != "":
				// A present but unusable source is never anonymous.
				if d.Allowed || d.Reason != profile.NoIdentity || d.Detail != c.detail {
					t.Errorf("%s/%s: allowed=%t reason=%s detail=%q; want denied: %q", anonymous, c.name, d.Allowed, d.Reason, d.Detail, c.detail)
				}
			case anonymous == "allow":
				if !d.Allowed || d.Detail != "anonymous" {
					t.Errorf("%s/%s: allowed=%t detail=%q; want allowed as anonymous", anonymous, c.name, d.Allowed, d.Detail)
				}
			default:
				if d.Allowed || d.Reason != profile.NoIdentity || d.Detail != "no identity" {
					t.Errorf("%s/%s: allowed=%t reason=%s detail=%q; want denied: no identity", anonymous, c.name, d.Allowed, d.Reason, d.Detail)
				}
			}
		}
	}
}

// TestBearerAfterHeader: the identity header still wins over an unusable
// Authorization header.
func TestBearerAfterHeader(t *testing.T) {
	f := newFixture(t, func(o *Options, _ *policy.Config) { o.Identity.BearerFingerprint = true })
	r := &Request{Method: "POST", Path: "/carts/1", Header: MapHeader{"x-user-id": "alice", "authorization": "Basic abc"}}
	if user, detail := f.engine.Identity(r); user != "alice" || detail != "" {
		t.Fatalf("identity %q, %q; want alice", user, detail)
	}
}

// restoreUserHashKey puts back the process's user-hash key after a test.
func restoreUserHashKey(t *testing.T) {
	old := userHashKey.Load()
	t.Cleanup(func() { userHashKey.Store(old) })
}

func TestHashUserIsKeyed(t *testing.T) {
	restoreUserHashKey(t)
	const user = "alice@example.com"
	shape := regexp.MustCompile(`^[0-9a-f]{16}$`)

	// The old, unkeyed tag, which anyone could compute from a guess.
	unkeyed := sha256.Sum256([]byte("mfa-authz user\x00" + user))
	random := HashUser(user)
	if !shape.MatchString(random) || random == hex.EncodeToString(unkeyed[:8]) {
		t.Fatalf("default hash %q: want 16 hex digits, not the unkeyed SHA-256", random)
	}

	key := []byte("0123456789abcdef0123456789abcdef")
	if err := setUserHashKey(key); err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(user))
	want := hex.EncodeToString(m.Sum(nil)[:8])
	if got := HashUser(user); got != want || got == random {
		t.Fatalf("HashUser = %q, want HMAC-SHA256 %q", got, want)
	}
	if HashUser(user) != want {
		t.Fatal("HashUser is not stable under one key")
	}
	long := strings.Repeat("x", 1000) // longer than the copy buffer
	m.Reset()
	m.Write([]byte(long))
	if got, want := HashUser(long), hex.EncodeToString(m.Sum(nil)[:8]); got != want {
		t.Fatalf("long id: HashUser = %q, want %q", got, want)
	}
	if err := setUserHashKey([]byte("short")); err == nil || HashUser(user) != want {
		t.Fatalf("short key: err %v, hash %q; want an error and the key unchanged", err, HashUser(user))
	}
	if err := setUserHashKey([]byte("fedcba9876543210fedcba9876543210")); err != nil || HashUser(user) == want {
		t.Fatalf("new key: err %v; want a different hash", err)
	}
}

type fakeSecretHasher struct{ calls []string }

func (f *fakeSecretHasher) SecretHash(user, purpose, secret string) []byte {
	f.calls = append(f.calls, user+"|"+purpose+"|"+secret)
	s := sha256.Sum256([]byte(purpose))
	return s[:]
}

func TestKeyUserHash(t *testing.T) {
	restoreUserHashKey(t)
	st := &fakeSecretHasher{}
	if err := KeyUserHash(st); err != nil {
		t.Fatal(err)
	}
	if len(st.calls) != 1 || st.calls[0] != "|"+UserHashPurpose+"|" {
		t.Fatalf("SecretHash calls %q", st.calls)
	}
	key := sha256.Sum256([]byte(UserHashPurpose))
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte("bob"))
	if got, want := HashUser("bob"), hex.EncodeToString(m.Sum(nil)[:8]); got != want {
		t.Fatalf("HashUser = %q, want %q", got, want)
	}
}

func TestHashUserAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts of pooled code are random under the race detector; `make test` runs them again without -race")
	}
	if n := testing.AllocsPerRun(200, func() { _ = HashUser("alice@example.com") }); n > 1 {
		t.Fatalf("HashUser: %v allocations, want at most 1 (the result)", n)
	}
}

func BenchmarkHashUser(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = HashUser("alice@example.com")
	}
}

// jwt_authn writes its namespace only for a verified token: a namespace
// whose payload is missing or not an object names no user, and the
// identity header never names one in its place.
func TestMalformedJWTMetadataNeverFallsBack(t *testing.T) {
	f := newFixture(t, nil)
	f.enroll("alice")
	for name, md := range map[string]map[string]*structpb.Struct{
		"payload missing":    {"envoy.filters.http.jwt_authn": mustStruct(t, map[string]any{"payload": map[string]any{"sub": "alice"}})},
		"payload a string":   {"envoy.filters.http.jwt_authn": mustStruct(t, map[string]any{"jwt_payload": "alice"})},
		"payload a list":     {"envoy.filters.http.jwt_authn": mustStruct(t, map[string]any{"jwt_payload": []any{"alice"}})},
		"namespace empty":    {"envoy.filters.http.jwt_authn": mustStruct(t, map[string]any{})},
		"claim not a string": {"envoy.filters.http.jwt_authn": mustStruct(t, map[string]any{"jwt_payload": map[string]any{"sub": 42.0}})},
	} {
		d := f.engine.Check(context.Background(), &Request{Method: "POST", Host: "shop.example.com", Path: "/carts/1",
			Header: MapHeader{"x-user-id": "alice"}, Metadata: md})
		if d.Allowed || d.Reason != profile.NoIdentity || d.User != "" {
			t.Errorf("%s: allowed=%t reason=%s user=%q, want no identity", name, d.Allowed, d.Reason, d.User)
		}
	}
	// Without the namespace (no token), the header names the user.
	d := f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice"})
	expectDeny(t, d, profile.Missing, 403, "no code")
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
