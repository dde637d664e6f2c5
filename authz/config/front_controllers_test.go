package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/mfa-authz/mfa-authz/policy"
)

// policy.front_controllers goes through the strict config reader: absent
// means the defaults, [] means none, a list replaces the defaults, and a
// bad value or shape is an error naming the key.
func TestFrontControllersKey(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []string // compiled names; nil: the defaults
	}{
		{"absent", "policy:\n  rules: [{path: /checkout}]\n", policy.DefaultFrontControllers},
		{"empty list", "policy:\n  front_controllers: []\n", []string{}},
		{"own list", "policy:\n  front_controllers: [index.php, Glue.php]\n", []string{"index.php", "glue.php"}},
	} {
		c, err := Parse([]byte(tt.yaml))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		p, err := policy.Compile(c.Policy)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := p.FrontControllers(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: front controllers %q, want %q", tt.name, got, tt.want)
		}
	}
	for _, tt := range []struct{ yaml, want string }{
		{"policy:\n  front_controllers: index.php\n", "config: policy.front_controllers (line 2): want a list"},
		{"policy:\n  front_controllers: [[a]]\n", "config: policy.front_controllers[0] (line 2): want a single value"},
		{"policy:\n  front_controler: [a]\n", "config: policy.front_controler (line 2): unknown key"},
		{"policy:\n  front_controllers: [index.php, a/b.php]\n", `policy.front_controllers[1] ("a/b.php"): invalid character "/"`},
		{"policy:\n  front_controllers: ['']\n", `policy.front_controllers[0] (""): must not be empty`},
	} {
		_, err := Parse([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
