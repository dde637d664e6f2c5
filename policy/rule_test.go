package policy

import (
	"testing"
	"time"
)

func TestStricter(t *testing.T) {
	var (
		none0   = &Rule{Index: 0}
		none5   = &Rule{Index: 5}
		req1    = &Rule{Index: 1, MFARequired: true}
		req6    = &Rule{Index: 6, MFARequired: true}
		fresh7  = &Rule{Index: 7, MFARequired: true, HasGrace: true}
		fresh8  = &Rule{Index: 8, MFARequired: true, HasGrace: true}
		grace2  = &Rule{Index: 2, MFARequired: true, Grace: time.Minute, HasGrace: true}
		grace3  = &Rule{Index: 3, MFARequired: true, Grace: time.Hour, HasGrace: true}
		grace4  = &Rule{Index: 4, MFARequired: true, Grace: time.Minute, HasGrace: true}
		ignored = &Rule{Index: 9, MFARequired: true, Grace: time.Second} // HasGrace false: Grace is meaningless
	)
	tests := []struct {
		name string
		a, b *Rule
		want *Rule
	}{
		{"both nil", nil, nil, nil},
		{"nil and required", nil, req1, req1},
		{"nil and exception", nil, none0, none0},
		{"required beats exception", none0, req6, req6},
		{"two exceptions: lower index", none5, none0, none0},
		{"two required without grace: lower index", req6, req1, req1},
		{"override beats global grace", req1, grace3, grace3},
		{"shorter override wins", grace3, grace2, grace2},
		{"zero grace beats everything", grace2, fresh7, fresh7},
		{"equal grace: lower index", grace4, grace2, grace2},
		{"equal zero grace: lower index", fresh8, fresh7, fresh7},
		{"Grace without HasGrace is global", ignored, req1, req1},
		{"same rule", req6, req6, req6},
	}
	for _, tt := range tests {
		if got := Stricter(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: Stricter(%v, %v) = %v, want %v", tt.name, tt.a, tt.b, got, tt.want)
		}
		if got := Stricter(tt.b, tt.a); got != tt.want {
			t.Errorf("%s: Stricter(%v, %v) = %v, want %v", tt.name, tt.b, tt.a, got, tt.want)
		}
	}
}
