package profile

import (
	"encoding/json"
	"testing"
)

// Every lifecycle reason renders a body of its own golden file, whose
// status matches the HTTP status, in both profiles.
func TestLifecycleGolden(t *testing.T) {
	for _, name := range []string{Glue, Problem} {
		p, err := New(name, "X-MFA-Code", "https://docs.example.com/")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range SelfServiceReasons {
			d := p.Deny(r, Details{FlowID: "5e77e3e3-48ab-4955-8ab3-1c62339096ab"})
			if d.Status == 503 && r != DeliveryFailed {
				t.Errorf("%s %s: rendered as unavailable", name, r)
			}
			golden(t, name+"_"+r.String()+".json", d.Body)
			var doc struct {
				Status int `json:"status"`
				Errors []struct {
					Status int `json:"status"`
				} `json:"errors"`
			}
			if err := json.Unmarshal([]byte(d.Body), &doc); err != nil {
				t.Fatalf("%s %s: %v", name, r, err)
			}
			got := doc.Status
			if name == Glue {
				got = doc.Errors[0].Status
			}
			if got != d.Status {
				t.Errorf("%s %s: body status %d, HTTP %d", name, r, got, d.Status)
			}
		}
	}
}
