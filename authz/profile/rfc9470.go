package profile

import (
	"encoding/json"
	"net/http"
	"strings"
)

// rfc9470 is the profile of clients that speak the standards rather than a
// vendor's API: a denial that a stronger or more recent authentication
// cures is 401 with an RFC 9470 step-up challenge (WWW-Authenticate:
// Bearer error="insufficient_user_authentication", ...), and every
// denial is a plain RFC 9457 problem document (type, title, status,
// detail) with the problem profile's types, titles and details. A user
// without a factor is challenged (401) only on a route that accepts a
// step-up at the identity provider (Details.IdPStepUp). The other statuses
// are the problem profile's; a 401 for a missing user identity carries the
// bare Bearer challenge, as RFC 9110 asks of every 401.
//
// Bodies carry no flow_id and no type_documentation: with a base URL the
// type itself is the absolute link to the documentation. So every answer
// is the same for every request, and is built once.
type rfc9470 struct {
	denials map[Reason]Answer
	// idpNotEnrolled is NotEnrolled on a route that accepts a step-up at
	// the identity provider: 401 and challenged, as a sign-in there cures it.
	idpNotEnrolled Answer
	docType        string
}

func newRFC9470(header, baseURL, docType string) *rfc9470 {
	p := &rfc9470{denials: make(map[Reason]Answer, len(ProblemTypes)), docType: docType}
	render := func(r Reason, idp bool) Answer {
		t := ProblemTypes[r]
		a := Answer{Status: t.Status, ContentType: ProblemContentType}
		switch {
		case Challenged(r, idp):
			// Without a route (the self-service endpoints, a transport's
			// own denial) the challenge names no acr values or max_age;
			// the engine sets the route's on its denials.
			a.Status, a.Challenge = http.StatusUnauthorized, Challenge(r, nil, -1)
		case t.Status == http.StatusUnauthorized:
			a.Challenge = BearerChallenge
		}
		body, err := json.Marshal(struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Status int    `json:"status"`
			Detail string `json:"detail"`
			Field  string `json:"field,omitempty"`
		}{strings.TrimRight(baseURL, "/") + t.Type, sprintfHeader(t.Title, header), a.Status,
			sprintfHeader(t.Detail, header), t.Field})
		if err != nil { // cannot happen: strings and ints only
			panic(err)
		}
		a.Body = string(body)
		return a
	}
	for r := range ProblemTypes {
		p.denials[r] = render(r, false)
	}
	p.idpNotEnrolled = render(NotEnrolled, true)
	return p
}

func (p *rfc9470) Name() string { return RFC9470 }

func (p *rfc9470) DocumentType() string { return p.docType }

func (p *rfc9470) Deny(r Reason, d Details) Answer {
	a, ok := p.denials[r]
	switch {
	case !ok:
		a = p.denials[Unavailable]
	case r == NotEnrolled && d.IdPStepUp:
		a = p.idpNotEnrolled
	}
	a.RetryAfter = d.RetryAfter
	return a
}
