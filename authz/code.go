package authz

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// MaxCodeHeaderLength bounds the MFA header value; longer values are malformed.
const MaxCodeHeaderLength = 64

// ParseCode splits an MFA header value into a method and a code. The value
// is either a bare code ("123456": the user's preferred factor, method "")
// or "<method> <code>" with method one of totp, email, sms or recovery, as
// in "email 123456". ok is false for anything else: unknown methods, codes
// with characters other than ASCII digits (recovery codes: ASCII letters,
// digits and '-'), several spaces, and values over MaxCodeHeaderLength.
func ParseCode(value string) (method, code string, ok bool) {
	value = strings.Trim(value, " \t")
	if len(value) == 0 || len(value) > MaxCodeHeaderLength {
		return "", "", false
	}
	method, code, found := strings.Cut(value, " ")
	if !found {
		method, code = "", value
	} else {
		method = strings.ToLower(method)
	}
	switch method {
	case "", store.MethodTOTP, store.MethodEmail, store.MethodSMS:
		if !isDigits(code) {
			return "", "", false
		}
	case store.MethodRecovery:
		if !isRecoveryCode(code) {
			return "", "", false
		}
	default:
		return "", "", false
	}
	return method, code, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isRecoveryCode(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// checkCode verifies code for method. ok=false with a detail is a wrong
// code; err is a failure to decide, which the caller denies as unavailable.
func (e *Engine) checkCode(ctx context.Context, user string, enr *store.Enrollment, method, code string, now time.Time) (ok bool, detail string, err error) {
	switch method {
	case store.MethodTOTP:
		step, ok := totp.Verify(enr.TOTP, code, now, e.cfg.TOTPSkew)
		if !ok {
			return false, "wrong code", nil
		}
		fresh, err := e.store.UseTOTPStep(ctx, user, step)
		if err != nil {
			return false, "store error", fmt.Errorf("recording used TOTP step: %w", err)
		}
		if !fresh {
			return false, "replay", nil
		}
		return true, "", nil
	case store.MethodEmail, store.MethodSMS:
		lc, ok := e.store.(store.Lifecycle)
		if !ok {
			return false, "unsupported store", fmt.Errorf("the store cannot keep %s codes", method)
		}
		out, err := otc.Use(ctx, lc, user, method, code, now, e.codeMaxAttempts())
		if err != nil {
			return false, "store error", fmt.Errorf("checking %s code: %w", method, err)
		}
		switch out {
		case otc.OK:
			return true, "", nil
		case otc.Expired:
			return false, DetailExpired, nil
		default:
			return false, "wrong code", nil
		}
	case store.MethodRecovery:
		lc, ok := e.store.(store.Lifecycle)
		if !ok {
			return false, "unsupported store", fmt.Errorf("the store cannot keep recovery codes")
		}
		used, err := otc.UseRecovery(ctx, lc, user, code)
		if err != nil {
			return false, "store error", fmt.Errorf("using recovery code: %w", err)
		}
		if !used {
			return false, DetailWrongRecovery, nil
		}
		return true, "", nil
	default:
		// Enrollment.Has admitted a method this engine cannot verify.
		return false, "unsupported method", fmt.Errorf("no verifier for method %q", method)
	}
}
