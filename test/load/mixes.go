package load

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// The users the harness enrolls. VerifiedUser passes one real TOTP check
// before the runs, so it has a cached session; UnverifiedUser never does,
// so its protected requests without a code are denied as missing the code.
// UnenrolledUser is never enrolled: denied as not enrolled.
const (
	VerifiedUser   = "loadtest-alice"
	UnverifiedUser = "loadtest-bob"
	UnenrolledUser = "loadtest-carol"

	shopHost = "shop.example.com"
)

// Kind is what mfa-authz must answer to a request.
type Kind int

const (
	// Unprotected: no rule matches, allowed without identity checks.
	Unprotected Kind = iota
	// Session: protected, allowed because the user verified recently.
	Session
	// Missing: protected, denied because the user sent no code (glue 5900).
	Missing
	// NotEnrolled: protected, denied because the user has no factor.
	NotEnrolled
)

func (k Kind) String() string {
	switch k {
	case Unprotected:
		return "unprotected"
	case Session:
		return "session"
	case Missing:
		return "missing-code"
	case NotEnrolled:
		return "not-enrolled"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Entry is one request of a mix and the answer it must get.
type Entry struct {
	Kind Kind
	Req  *authv3.CheckRequest
}

// Mix is one load run's requests. ghz sends them round robin, in order.
type Mix struct {
	Name    string
	Desc    string
	Entries []Entry
}

// Count returns how many entries of the mix are of kind k.
func (m Mix) Count(k Kind) int {
	n := 0
	for _, e := range m.Entries {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// MixNames are the mixes Run measures by default, in order.
var MixNames = []string{"unprotected", "session", "missing-code", "not-enrolled", "mixed"}

// Mixes returns the request mixes. Every request looks like what Envoy
// sends with envoy/envoy.yaml: attributes with the pseudo-headers, the
// headers ext_authz forwards (a bearer JWT, x-user-id set from it,
// x-request-id), and jwt_authn's payload in the metadata context.
func Mixes() []Mix {
	unprotected := []*authv3.CheckRequest{
		envoyRequest(1, "GET", "/catalog-search?q=tent&page%5Blimit%5D=12", VerifiedUser),
		envoyRequest(2, "GET", "/abstract-products/210", ""),
		envoyRequest(3, "GET", "/customers/DE--42", VerifiedUser),
		envoyRequest(4, "GET", "/carts/8c3e2f9a-1b7d-4c55-a1e0-3f6b2d9e7c41", VerifiedUser),
		envoyRequest(5, "POST", "/access-tokens", ""),
		envoyRequest(6, "GET", "/concrete-products/210_123/concrete-product-prices", ""),
		envoyRequest(7, "GET", "/customers/DE--42/orders?page%5Boffset%5D=0", VerifiedUser),
		envoyRequest(8, "HEAD", "/catalog-search-suggestions?q=te", ""),
	}
	session := []*authv3.CheckRequest{
		envoyRequest(11, "POST", "/carts/8c3e2f9a-1b7d-4c55-a1e0-3f6b2d9e7c41/items", VerifiedUser),
		envoyRequest(12, "PATCH", "/customers/DE--42", VerifiedUser),
		envoyRequest(13, "DELETE", "/addresses/5b1c7e32-0f4d-4a6e-9d8b-2c7a1e6f3b90", VerifiedUser),
		envoyRequest(14, "POST", "/checkout", VerifiedUser),
		envoyRequest(15, "POST", "/customer-password/DE--42", VerifiedUser),
		envoyRequest(16, "POST", "/order-payments", VerifiedUser),
	}
	missing := []*authv3.CheckRequest{
		envoyRequest(21, "POST", "/carts/0d2f6a8b-3c1e-4f7a-b5d9-8e4c2a1f6b73/items", UnverifiedUser),
		envoyRequest(22, "PATCH", "/customers/DE--77", UnverifiedUser),
		envoyRequest(23, "POST", "/checkout", UnverifiedUser),
		envoyRequest(24, "DELETE", "/addresses/1e9b4c6d-7a2f-4b8e-93c5-d0f1a6e2b847", UnverifiedUser),
	}
	unenrolled := []*authv3.CheckRequest{
		envoyRequest(31, "POST", "/carts/5a7c1e93-2d4b-4f6a-8e1c-9b3d7f2a6c05/items", UnenrolledUser),
		envoyRequest(32, "PATCH", "/customers/DE--91", UnenrolledUser),
		envoyRequest(33, "POST", "/checkout", UnenrolledUser),
		envoyRequest(34, "DELETE", "/addresses/7d2e9f41-6b3a-4c8d-a5e7-1f0c4b9d2e68", UnenrolledUser),
	}
	entries := func(k Kind, rs []*authv3.CheckRequest) []Entry {
		es := make([]Entry, len(rs))
		for i, r := range rs {
			es[i] = Entry{Kind: k, Req: r}
		}
		return es
	}
	// mixed: 80 % unprotected, 15 % cached session, 5 % missing code, in a
	// cycle of 20 requests with the protected ones spread out.
	var mixed []Entry
	u, s := 0, 0
	for i := range 20 {
		switch i {
		case 3, 10, 16:
			mixed = append(mixed, Entry{Kind: Session, Req: session[s%len(session)]})
			s++
		case 13:
			mixed = append(mixed, Entry{Kind: Missing, Req: missing[0]})
		default:
			mixed = append(mixed, Entry{Kind: Unprotected, Req: unprotected[u%len(unprotected)]})
			u++
		}
	}
	return []Mix{
		{Name: "unprotected", Desc: "no rule matches (reads, login, search)", Entries: entries(Unprotected, unprotected)},
		{Name: "session", Desc: "protected, user verified within the grace period", Entries: entries(Session, session)},
		{Name: "missing-code", Desc: "protected, enrolled user without session or code: denied 5900", Entries: entries(Missing, missing)},
		{Name: "not-enrolled", Desc: "protected, user with no factor: denied as not enrolled", Entries: entries(NotEnrolled, unenrolled)},
		{Name: "mixed", Desc: "80 % unprotected, 15 % session, 5 % missing code", Entries: mixed},
	}
}

// envoyRequest builds a CheckRequest the way Envoy fills it in. user ""
// is an anonymous request (no token, no identity header, no metadata).
func envoyRequest(n int, method, path, user string) *authv3.CheckRequest {
	reqID := fakeUUID(fmt.Sprintf("request-%d", n))
	h := map[string]string{
		":authority":   shopHost,
		":method":      method,
		":path":        path,
		":scheme":      "https",
		"x-request-id": reqID,
	}
	if method == "POST" || method == "PATCH" {
		h["content-length"] = "142"
	}
	if user != "" {
		h["authorization"] = "Bearer " + fakeJWT(user)
		h["x-user-id"] = user
	}
	// The peers are documentation addresses (RFC 5737): request attributes
	// only, as Envoy reports them; no traffic goes there.
	cr := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: socket("192.0.2.23", 41000+uint32(n))},
		Destination: &authv3.AttributeContext_Peer{
			Address: socket("198.51.100.5", 10000),
		},
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.New(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)),
			Http: &authv3.AttributeContext_HttpRequest{
				Id:       fmt.Sprintf("%d", 1_000_000_000+n),
				Method:   method,
				Path:     path,
				Host:     shopHost,
				Scheme:   "https",
				Protocol: "HTTP/1.1",
				Headers:  h,
			},
		},
	}}
	if user != "" {
		md, err := structpb.NewStruct(map[string]any{"jwt_payload": jwtClaims(user)})
		if err != nil {
			panic(err)
		}
		cr.Attributes.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
			"envoy.filters.http.jwt_authn": md,
		}}
	}
	return cr
}

func socket(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func jwtClaims(user string) map[string]any {
	return map[string]any{
		"iss":   "https://issuer.mfa-authz.test",
		"sub":   user,
		"aud":   []any{"shop"},
		"iat":   float64(1767268800),
		"exp":   float64(1767272400),
		"scope": "openid profile customer",
	}
}

// fakeJWT returns a token of a real JWT's size and shape. mfa-authz never
// verifies it (Envoy's jwt_authn does); it only travels in the header.
func fakeJWT(user string) string {
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "test", "typ": "JWT"})
	claims, _ := json.Marshal(jwtClaims(user))
	var sig []byte
	for i := range 8 { // 256 bytes, an RS256 signature's length
		s := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", user, i)))
		sig = append(sig, s[:]...)
	}
	return enc.EncodeToString(hdr) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(sig)
}

func fakeUUID(seed string) string {
	s := sha256.Sum256([]byte(seed))
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// writeData writes the mix as ghz's --data-file: a JSON array of
// CheckRequests in protobuf's JSON mapping, which ghz sends round robin.
func writeData(path string, m Mix) error {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, e := range m.Entries {
		js, err := protojson.Marshal(e.Req)
		if err != nil {
			return err
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, js); err != nil {
			return err
		}
		b.Write(compact.Bytes())
		if i < len(m.Entries)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// readData reads a data file back, as the requests ghz will send.
func readData(path string) ([]*authv3.CheckRequest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]*authv3.CheckRequest, len(raw))
	for i, r := range raw {
		out[i] = &authv3.CheckRequest{}
		if err := protojson.Unmarshal(r, out[i]); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", path, i, err)
		}
	}
	return out, nil
}

// expect checks an answer of mfa-authz (or, with baseline set, of the
// baseline, which allows everything) against the kind's documented one.
func expect(k Kind, resp *authv3.CheckResponse, baseline bool) error {
	rpc := codes.Code(resp.GetStatus().GetCode())
	if baseline {
		k = Unprotected
	}
	switch k {
	case Unprotected, Session:
		ok := resp.GetOkResponse()
		if rpc != codes.OK || ok == nil {
			return fmt.Errorf("want an OK answer, got status %v", rpc)
		}
		if !slices.Contains(ok.GetHeadersToRemove(), "x-mfa-code") {
			return fmt.Errorf("OK answer does not remove x-mfa-code")
		}
		var method string
		for _, h := range ok.GetHeaders() {
			if strings.EqualFold(h.GetHeader().GetKey(), "x-mfa-method") {
				method = h.GetHeader().GetValue()
			}
		}
		want := ""
		if k == Session {
			want = "totp"
		}
		if method != want {
			return fmt.Errorf("x-mfa-method: got %q, want %q", method, want)
		}
	case Missing:
		d := resp.GetDeniedResponse()
		if rpc != codes.PermissionDenied || d == nil {
			return fmt.Errorf("want a denial with status PERMISSION_DENIED, got status %v", rpc)
		}
		if d.GetStatus().GetCode() != 403 || !strings.Contains(d.GetBody(), `"code":"5900"`) {
			return fmt.Errorf("want HTTP 403 with code 5900, got %d %s", d.GetStatus().GetCode(), d.GetBody())
		}
	case NotEnrolled:
		d := resp.GetDeniedResponse()
		if rpc != codes.PermissionDenied || d == nil {
			return fmt.Errorf("want a denial with status PERMISSION_DENIED, got status %v", rpc)
		}
		want := glueNotEnrolled()
		if int(d.GetStatus().GetCode()) != want.Status || d.GetBody() != want.Body {
			return fmt.Errorf("want the glue profile's not-enrolled denial (%d %s), got %d %s", want.Status, want.Body, d.GetStatus().GetCode(), d.GetBody())
		}
	}
	return nil
}

// glueNotEnrolled is the glue profile's not-enrolled denial, as mfa-authz
// renders it with the harness's configuration.
func glueNotEnrolled() profile.Answer {
	p, err := profile.New(profile.Glue, "X-MFA-Code", "")
	if err != nil {
		panic(err)
	}
	return p.Deny(profile.NotEnrolled, profile.Details{})
}
