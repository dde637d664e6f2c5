package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

func openTestStore(t *testing.T) (*store.Dir, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenDir(dir, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

var testTOTPConfig = totp.Config{Issuer: "mfa-authz", Digits: 6, Period: 30 * time.Second, Algorithm: "SHA1"}

type enrollJSONOut struct {
	User          string   `json:"user"`
	Secret        string   `json:"secret"`
	URI           string   `json:"uri"`
	RecoveryCodes []string `json:"recovery_codes"`
}

// enrollJSONOnce runs enrollTOTP with --output json and decodes its output
// strictly; raw is the line printed.
func enrollJSONOnce(t *testing.T, st store.Store, user string, force bool) (out enrollJSONOut, raw string) {
	t.Helper()
	var b bytes.Buffer
	if err := enrollTOTP(context.Background(), st, testTOTPConfig, user, force, "json", "", &b); err != nil {
		t.Fatalf("enrollTOTP(%s, force %v): %v", user, force, err)
	}
	dec := json.NewDecoder(&b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("output %q: %v", b.String(), err)
	}
	return out, b.String()
}

// checkCodesWork asserts that each code is one of the user's, once.
func checkCodesWork(t *testing.T, st store.Store, user string, codes []string) {
	t.Helper()
	if len(codes) != otc.RecoveryCount {
		t.Fatalf("got %d recovery codes, want %d", len(codes), otc.RecoveryCount)
	}
	for _, c := range codes {
		for i, want := range []bool{true, false} {
			ok, err := otc.UseRecovery(context.Background(), st, user, c)
			if err != nil || ok != want {
				t.Fatalf("use %d of recovery code %s: ok %v, err %v; want %v", i+1, c, ok, err, want)
			}
		}
	}
}

func TestEnrollTOTPRecoveryCodes(t *testing.T) {
	ctx := context.Background()

	t.Run("first factor gets codes, --force does not", func(t *testing.T) {
		st, _ := openTestStore(t)
		first, _ := enrollJSONOnce(t, st, "alice", false)
		again, raw := enrollJSONOnce(t, st, "alice", true)
		if strings.Contains(raw, "recovery_codes") {
			t.Fatalf("replacing an enabled TOTP printed recovery codes: %s", raw)
		}
		if again.Secret == first.Secret {
			t.Fatal("--force kept the secret")
		}
		checkCodesWork(t, st, "alice", first.RecoveryCodes)
	})

	t.Run("second factor gets none and keeps the first's", func(t *testing.T) {
		st, _ := openTestStore(t)
		codes, _ := otc.GenerateRecovery(otc.RecoveryCount)
		err := st.PutEnrollment(ctx, "bob", &store.Enrollment{
			Email:    &store.OOB{Destination: "bob@example.com", Enabled: true},
			Recovery: otc.HashRecovery(st, "bob", codes),
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, raw := enrollJSONOnce(t, st, "bob", false); strings.Contains(raw, "recovery_codes") {
			t.Fatalf("a second factor printed recovery codes: %s", raw)
		}
		enr, err := st.Enrollment(ctx, "bob")
		if err != nil || enr.Email == nil || enr.TOTP == nil || enr.TOTP.Pending {
			t.Fatalf("enrollment after: %+v, %v; want the e-mail kept and TOTP enabled", enr, err)
		}
		checkCodesWork(t, st, "bob", codes)
	})

	t.Run("an activation in progress is no enabled factor", func(t *testing.T) {
		st, _ := openTestStore(t)
		f, _, err := totp.Generate(testTOTPConfig, "carol", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		f.Pending = true
		if err := st.PutEnrollment(ctx, "carol", &store.Enrollment{TOTP: f}, false); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		err = enrollTOTP(ctx, st, testTOTPConfig, "carol", false, "json", "", &b)
		if err == nil || !strings.Contains(err.Error(), "already has a TOTP secret; use --force") || b.Len() != 0 {
			t.Fatalf("without --force: err %v, output %q; want the refusal and no output", err, b.String())
		}
		out, _ := enrollJSONOnce(t, st, "carol", true)
		checkCodesWork(t, st, "carol", out.RecoveryCodes)
	})

	t.Run("repairing a corrupt record with --force", func(t *testing.T) {
		st, dir := openTestStore(t)
		enrollJSONOnce(t, st, "dave", false)
		files, err := filepath.Glob(filepath.Join(dir, "enrollments", "*"))
		if err != nil || len(files) != 1 {
			t.Fatalf("enrollment files %q (%v), want one", files, err)
		}
		if err := os.WriteFile(files[0], []byte("not a record"), 0o600); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := enrollTOTP(ctx, st, testTOTPConfig, "dave", false, "json", "", &b); !errors.Is(err, store.ErrCorrupt) || b.Len() != 0 {
			t.Fatalf("without --force: err %v, output %q; want ErrCorrupt and no output", err, b.String())
		}
		out, _ := enrollJSONOnce(t, st, "dave", true)
		checkCodesWork(t, st, "dave", out.RecoveryCodes)
	})

	t.Run("text output", func(t *testing.T) {
		st, _ := openTestStore(t)
		var b bytes.Buffer
		if err := enrollTOTP(ctx, st, testTOTPConfig, "erin", false, "text", "", &b); err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`^Enrolled TOTP for user "erin"\.\nSecret: [A-Z2-7]+\nURI:    otpauth://totp/\S+\n` +
			`Recovery codes for user "erin" \(each works once; shown only now\):\n((?:  [A-Z2-9]{4}-[A-Z2-9]{4}\n){10})$`)
		m := re.FindStringSubmatch(b.String())
		if m == nil {
			t.Fatalf("text output:\n%s", b.String())
		}
		checkCodesWork(t, st, "erin", strings.Fields(m[1]))
		b.Reset()
		if err := enrollTOTP(ctx, st, testTOTPConfig, "erin", true, "text", "", &b); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "Recovery codes") || strings.Count(b.String(), "\n") != 3 {
			t.Fatalf("replacing an enabled TOTP, text output:\n%s", b.String())
		}
	})
}
