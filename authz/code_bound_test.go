package authz

import (
	"strings"
	"testing"

	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/oob"
	"github.com/mfa-authz/mfa-authz/authz/factor/recovery"
	ftotp "github.com/mfa-authz/mfa-authz/authz/factor/totp"
)

// boundedFactor is assertionFactor with its own header bound.
type boundedFactor struct{ assertionFactor }

func (boundedFactor) MaxLength() int { return 200 }

// A factor.Bounded factor's submissions may exceed MaxCodeHeaderLength up
// to its own bound; every other value keeps the code limit.
func TestBoundedFactor(t *testing.T) {
	reg := factor.MustRegistry(ftotp.Factor{}, oob.Email, oob.SMS, recovery.Factor{}, boundedFactor{})
	if reg.Longest() != len("assert ")+200 {
		t.Fatalf("Longest() = %d", reg.Longest())
	}
	for _, c := range []struct {
		value string
		ok    bool
	}{
		{"assert " + strings.Repeat("a", 200), true},
		{"  assert " + strings.Repeat("a", 200) + "\t", true},
		{"assert " + strings.Repeat("a", 201), false},
		{"assert " + strings.Repeat("a", 100), true},
		{"recovery " + strings.Repeat("a", 60), false},
		{"totp " + strings.Repeat("1", 60), false},
		{strings.Repeat("1", MaxCodeHeaderLength+1), false},
		{strings.Repeat("1", MaxCodeHeaderLength), true},
	} {
		_, _, ok := parseCode(reg, c.value)
		if ok != c.ok {
			t.Errorf("parseCode(%d bytes %.12q…) ok=%v, want %v", len(c.value), c.value, ok, c.ok)
		}
	}
}
