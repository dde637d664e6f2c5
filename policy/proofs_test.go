package policy

import (
	"strings"
	"testing"
	"time"
)

func TestCompileProofErrors(t *testing.T) {
	rule := func(rc RuleConfig) Config { return Config{Rules: []RuleConfig{{Path: "/ok"}, rc}} }
	idp := func(acr, amr []string) *IdPStepUpConfig { return &IdPStepUpConfig{ACRValues: acr, AMR: amr} }
	zero := time.Duration(0)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"factors empty", rule(RuleConfig{Path: "/p", Factors: []string{}}), `policy.rules[1] (path "/p"): factors: must not be an empty list`},
		{"factors on exception", rule(RuleConfig{Path: "/p", MFA: "none", Factors: []string{"totp"}}), `policy.rules[1] (path "/p"): factors: set on an "mfa: none" rule, which never asks for a code`},
		{"factor twice", rule(RuleConfig{Path: "/p", Factors: []string{"totp", "TOTP"}}), `policy.rules[1] (path "/p"): factors: "totp" is listed twice`},
		{"factor blank", rule(RuleConfig{Path: "/p", Factors: []string{""}}), `policy.rules[1] (path "/p"): factors: invalid entry "" (want 1 to 128 printable ASCII characters, no spaces)`},
		{"factor space", rule(RuleConfig{Name: "pay", Path: "/p", Factors: []string{"one time"}}), `policy.rules[1] (name "pay", path "/p"): factors: invalid entry "one time" (want 1 to 128 printable ASCII characters, no spaces)`},
		{"factors many", rule(RuleConfig{Path: "/p", Factors: strings.Split("a b c d e f g h i j k l m n o p q", " ")}), `policy.rules[1] (path "/p"): factors: at most 16 entries, got 17`},
		{"idp empty", rule(RuleConfig{Path: "/p", AcceptIdPStepUp: idp(nil, nil)}), `policy.rules[1] (path "/p"): accept_idp_stepup: name acr_values, amr or both`},
		{"idp on exception", rule(RuleConfig{Path: "/p", MFA: "none", AcceptIdPStepUp: idp([]string{"phr"}, nil)}), `policy.rules[1] (path "/p"): accept_idp_stepup: set on an "mfa: none" rule, which never asks for a code`},
		{"idp grace zero", rule(RuleConfig{Path: "/p", GracePeriod: &zero, AcceptIdPStepUp: idp([]string{"phr"}, nil)}), `policy.rules[1] (path "/p"): accept_idp_stepup: set on a rule with grace_period 0, which no auth_time can be within`},
		{"idp acr twice", rule(RuleConfig{Path: "/p", AcceptIdPStepUp: idp([]string{"phr", "phr"}, nil)}), `policy.rules[1] (path "/p"): accept_idp_stepup.acr_values: "phr" is listed twice`},
		{"idp amr control", rule(RuleConfig{Path: "/p", AcceptIdPStepUp: idp(nil, []string{"hwk\n"})}), `policy.rules[1] (path "/p"): accept_idp_stepup.amr: invalid entry "hwk\n" (want 1 to 128 printable ASCII characters, no spaces)`},
	}
	for _, tt := range tests {
		_, err := Compile(tt.cfg)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: got %v\nwant %s", tt.name, err, tt.want)
		}
	}
}

func TestCompiledProofs(t *testing.T) {
	p, err := Compile(Config{Rules: []RuleConfig{
		{Name: "payments", Path: "/payments", Methods: []string{"POST"}, Factors: []string{"TOTP", "email"},
			AcceptIdPStepUp: &IdPStepUpConfig{ACRValues: []string{"phr", "PHRH"}, AMR: []string{"hwk"}}},
		{Path: "/profile", Methods: []string{"POST"}, AcceptIdPStepUp: &IdPStepUpConfig{AMR: []string{"mfa"}}},
		{Path: "/carts/**"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rules := p.Rules()
	for i, want := range []string{
		// Factor names are folded; claim values compare exactly, as OpenID Connect's do.
		`rule 0 (payments) "/payments" [POST] mfa=required factors=totp,email idp_stepup=acr:phr,PHRH+amr:hwk`,
		`rule 1 "/profile" [POST] mfa=required idp_stepup=amr:mfa`,
		`rule 2 "/carts/**" [POST PUT PATCH DELETE] mfa=required`,
	} {
		if got := rules[i].String(); got != want {
			t.Errorf("rule %d: %s\nwant %s", i, got, want)
		}
	}
	if !rules[0].Accepts("email") || rules[0].Accepts("sms") || !rules[2].Accepts("sms") {
		t.Error("Accepts does not follow the factors list")
	}
	if rules[2].Factors != nil || rules[2].IdPStepUp != nil {
		t.Errorf("rule without proofs: factors %v, idp %v", rules[2].Factors, rules[2].IdPStepUp)
	}
	known := func(n string) bool { return n == "totp" }
	want := `policy.rules[0] (name "payments", path "/payments"): factors: unknown factor "email" (known: totp)`
	if err := p.CheckFactors(known, []string{"totp"}); err == nil || err.Error() != want {
		t.Errorf("CheckFactors: %v\nwant %s", err, want)
	}
}

// Between rules of equal grace, the one accepting fewer proofs protects
// more: a factor list beats none, a shorter list a longer one, and a rule
// refusing step-up at the identity provider one accepting it.
func TestStricterProofs(t *testing.T) {
	var (
		anyFactor = &Rule{Index: 0, MFARequired: true}
		twoF      = &Rule{Index: 1, MFARequired: true, Factors: []string{"totp", "email"}}
		oneF      = &Rule{Index: 2, MFARequired: true, Factors: []string{"totp"}}
		idp       = &Rule{Index: 3, MFARequired: true, Factors: []string{"totp"}, IdPStepUp: &IdPStepUp{AMR: []string{"hwk"}}}
		short     = &Rule{Index: 4, MFARequired: true, HasGrace: true, Grace: time.Minute, IdPStepUp: &IdPStepUp{AMR: []string{"hwk"}}}
	)
	for _, tt := range []struct {
		name string
		a, b *Rule
		want *Rule
	}{
		{"list beats none", anyFactor, twoF, twoF},
		{"shorter list", twoF, oneF, oneF},
		{"no idp beats idp", idp, oneF, oneF},
		{"grace first", oneF, short, short},
	} {
		if got := Stricter(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: Stricter = %v, want %v", tt.name, got, tt.want)
		}
		if got := Stricter(tt.b, tt.a); got != tt.want {
			t.Errorf("%s (swapped): Stricter = %v, want %v", tt.name, got, tt.want)
		}
	}
}
