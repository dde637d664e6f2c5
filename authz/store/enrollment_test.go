package store

import (
	"slices"
	"testing"
)

func TestEnrollmentWithout(t *testing.T) {
	codes := []RecoveryCode{{Hash: []byte("a")}, {Hash: []byte("b"), Used: true}}
	all := &Enrollment{
		TOTP:     &TOTP{Secret: "S"},
		Email:    &OOB{Destination: "a@example.com", Enabled: true},
		SMS:      &OOB{Destination: "+4915112345678"}, // activation in progress
		Recovery: codes,
	}
	tests := []struct {
		name     string
		from     *Enrollment
		method   string
		methods  []string // enabled methods left
		recovery int      // recovery codes left
		deleted  bool     // nothing left: nil
	}{
		{"totp of three", all, MethodTOTP, []string{MethodEmail}, 2, false},
		{"email of three", all, MethodEmail, []string{MethodTOTP}, 2, false},
		{"pending sms", all, MethodSMS, []string{MethodTOTP, MethodEmail}, 2, false},
		{"unknown method", all, "voice", []string{MethodTOTP, MethodEmail}, 2, false},
		{"last enabled, pending left", &Enrollment{TOTP: &TOTP{Secret: "S"}, SMS: &OOB{}, Recovery: codes}, MethodTOTP, nil, 0, false},
		{"last factor", &Enrollment{Email: &OOB{Enabled: true}, Recovery: codes}, MethodEmail, nil, 0, true},
		{"nil", nil, MethodTOTP, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.from.Without(tt.method)
			if tt.deleted {
				if got != nil {
					t.Fatalf("Without(%q) = %+v, want nil", tt.method, got)
				}
				return
			}
			if got == nil {
				t.Fatalf("Without(%q) = nil", tt.method)
			}
			if !slices.Equal(got.Methods(), tt.methods) || len(got.Recovery) != tt.recovery {
				t.Errorf("Without(%q): methods %v, %d recovery codes; want %v, %d", tt.method, got.Methods(), len(got.Recovery), tt.methods, tt.recovery)
			}
			if got.Has(tt.method) {
				t.Errorf("Without(%q) still has %q", tt.method, tt.method)
			}
			if len(got.Recovery) > 0 {
				got.Recovery[0].Used = true
				if tt.from.Recovery[0].Used {
					t.Errorf("Without(%q) shares its recovery codes with the original", tt.method)
				}
			}
		})
	}
	if all.TOTP == nil || all.Email == nil || all.SMS == nil || len(all.Recovery) != 2 {
		t.Errorf("Without changed the original: %+v", all)
	}
}
