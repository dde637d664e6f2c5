package profile

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// docRows reads the table of docs/answers.md whose header is header: one
// row per reason name, its cells without backticks.
func docRows(t *testing.T, header string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "answers.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == header:
			in = true
			continue
		case !in || strings.HasPrefix(line, "| ---"):
			continue
		case !strings.HasPrefix(line, "|"):
			if len(rows) > 0 {
				return rows
			}
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), " | ") {
			cells = append(cells, strings.Trim(strings.TrimSpace(c), "`"))
		}
		if _, dup := rows[cells[0]]; dup {
			t.Errorf("docs/answers.md: %s listed twice", cells[0])
		}
		rows[cells[0]] = cells[1:]
	}
	if len(rows) == 0 {
		t.Fatalf("docs/answers.md has no table %q", header)
	}
	return rows
}

// The answer tables of docs/answers.md are the profiles' tables: every
// reason once, with the status, code or type, and text the code renders.
func TestDocsAnswerTables(t *testing.T) {
	all := append(append([]Reason{}, Reasons...), SelfServiceReasons...)
	glue := docRows(t, "| reason | status | code | detail |")
	problem := docRows(t, "| reason | status | type | title |")
	for _, r := range all {
		g, ok := GlueCode[r]
		if !ok {
			t.Errorf("%s has no glue code", r)
		}
		if want := []string{strconv.Itoa(g.Status), g.Code, g.Detail}; strings.Join(glue[r.String()], "|") != strings.Join(want, "|") {
			t.Errorf("docs glue row %s = %q, code says %q", r, glue[r.String()], want)
		}
		p, ok := ProblemTypes[r]
		if !ok {
			t.Errorf("%s has no problem type", r)
		}
		if want := []string{strconv.Itoa(p.Status), p.Type, p.Title}; strings.Join(problem[r.String()], "|") != strings.Join(want, "|") {
			t.Errorf("docs problem row %s = %q, code says %q", r, problem[r.String()], want)
		}
	}
	if len(glue) != len(all) || len(problem) != len(all) || len(GlueCode) != len(all) || len(ProblemTypes) != len(all) {
		t.Errorf("%d reasons; docs list %d glue and %d problem rows; code has %d and %d",
			len(all), len(glue), len(problem), len(GlueCode), len(ProblemTypes))
	}
}

// The rfc9470 table of docs/answers.md is what the profile answers: every
// reason once, with its status, type and challenge (step-up, Bearer or
// none).
func TestDocsRFC9470Table(t *testing.T) {
	p, err := New(RFC9470, "X-MFA-Code", "")
	if err != nil {
		t.Fatal(err)
	}
	all := append(append([]Reason{}, Reasons...), SelfServiceReasons...)
	rows := docRows(t, "| reason | status | type | challenge |")
	for _, r := range all {
		a := p.Deny(r, Details{})
		challenge := "—"
		switch {
		case a.Challenge == BearerChallenge:
			challenge = "Bearer"
		case a.Challenge != "":
			challenge = "step-up"
		}
		if want := []string{strconv.Itoa(a.Status), ProblemTypes[r].Type, challenge}; strings.Join(rows[r.String()], "|") != strings.Join(want, "|") {
			t.Errorf("docs rfc9470 row %s = %q, code says %q", r, rows[r.String()], want)
		}
	}
	if len(rows) != len(all) {
		t.Errorf("%d reasons; docs list %d rfc9470 rows", len(all), len(rows))
	}
}
