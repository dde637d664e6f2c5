package profile

import (
	"encoding/json"
	"reflect"
	"testing"
)

// WithFactors adds the acceptable factors and changes nothing else: every
// documented member of every denial that names factors is as before.
func TestWithFactorsIsAdditive(t *testing.T) {
	list := FactorsJSON([]string{"totp", "email"})
	if list != `["totp","email"]` {
		t.Fatalf("FactorsJSON = %s", list)
	}
	for _, name := range Names {
		p, err := New(name, "X-MFA-Code", "https://docs.example.com")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range Reasons {
			base := p.Deny(r, Details{FlowID: "flow-1"})
			got := WithFactors(base, list)
			if got.Status != base.Status || got.ContentType != base.ContentType {
				t.Errorf("%s %s: status or type changed", name, r)
			}
			var b, g map[string]any
			if err := json.Unmarshal([]byte(base.Body), &b); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(got.Body), &g); err != nil {
				t.Fatalf("%s %s: %s is not JSON: %v", name, r, got.Body, err)
			}
			want := []any{"totp", "email"}
			switch name {
			case Glue:
				errs := g["errors"].([]any)
				e := errs[0].(map[string]any)
				if !reflect.DeepEqual(e["meta"], map[string]any{FactorsMember: want}) {
					t.Errorf("%s %s: meta %v", name, r, e["meta"])
				}
				delete(e, "meta")
			case Problem, RFC9470:
				if !reflect.DeepEqual(g[FactorsMember], want) {
					t.Errorf("%s %s: %s = %v", name, r, FactorsMember, g[FactorsMember])
				}
				delete(g, FactorsMember)
			}
			if !reflect.DeepEqual(b, g) {
				t.Errorf("%s %s: documented members changed:\n%s\n%s", name, r, base.Body, got.Body)
			}
		}
	}
	// Nothing to add, or a body of another shape: unchanged.
	a := Answer{Status: 204}
	if WithFactors(a, list) != a {
		t.Error("an answer without a body changed")
	}
	g, _ := New(Glue, "X-MFA-Code", "")
	if d := g.Deny(Missing, Details{}); WithFactors(d, "") != d {
		t.Error("an empty list changed the body")
	}
}

func TestNamesFactors(t *testing.T) {
	for r, want := range map[Reason]bool{Missing: true, Invalid: true, NotEnrolled: true, Expired: true, InvalidRecoveryCode: true,
		TooManyAttempts: false, NoIdentity: false, Unavailable: false, 0: false} {
		if NamesFactors(r) != want {
			t.Errorf("NamesFactors(%s) = %t", r, !want)
		}
	}
}
