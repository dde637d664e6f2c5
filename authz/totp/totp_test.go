package totp

import (
	"bytes"
	"encoding/base32"
	"image/png"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/mfa-authz/mfa-authz/authz/store"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// rfcFactor returns the RFC 6238 appendix B test key for alg: the ASCII
// string "1234567890" repeated to the hash's output size.
func rfcFactor(alg string) *store.TOTP {
	size := map[string]int{"SHA1": 20, "SHA256": 32, "SHA512": 64}[alg]
	secret := strings.Repeat("1234567890", 7)[:size]
	return &store.TOTP{Secret: b32.EncodeToString([]byte(secret)), Algorithm: alg, Digits: 8, Period: 30}
}

func TestRFC6238Vectors(t *testing.T) {
	// RFC 6238 appendix B.
	vectors := []struct {
		unix  int64
		codes map[string]string
	}{
		{59, map[string]string{"SHA1": "94287082", "SHA256": "46119246", "SHA512": "90693936"}},
		{1111111109, map[string]string{"SHA1": "07081804", "SHA256": "68084774", "SHA512": "25091201"}},
		{1111111111, map[string]string{"SHA1": "14050471", "SHA256": "67062674", "SHA512": "99943326"}},
		{1234567890, map[string]string{"SHA1": "89005924", "SHA256": "91819424", "SHA512": "93441116"}},
		{2000000000, map[string]string{"SHA1": "69279037", "SHA256": "90698825", "SHA512": "38618901"}},
		{20000000000, map[string]string{"SHA1": "65353130", "SHA256": "77737706", "SHA512": "47863826"}},
	}
	for _, v := range vectors {
		now := time.Unix(v.unix, 0)
		for alg, want := range v.codes {
			f := rfcFactor(alg)
			got, err := Code(f, now)
			if err != nil || got != want {
				t.Errorf("Code(%s, %d) = %q, %v; want %q", alg, v.unix, got, err, want)
			}
			step, ok := Verify(f, want, now, 0)
			if !ok || step != uint64(v.unix/30) {
				t.Errorf("Verify(%s, %d) = %d, %v; want %d, true", alg, v.unix, step, ok, v.unix/30)
			}
			// The lower-case algorithm spelling is accepted too.
			f.Algorithm = strings.ToLower(alg)
			if _, ok := Verify(f, want, now, 0); !ok {
				t.Errorf("Verify(%s in lower case, %d) refused", alg, v.unix)
			}
		}
	}
}

func sixDigitFactor() *store.TOTP {
	return &store.TOTP{Secret: b32.EncodeToString([]byte("12345678901234567890")), Algorithm: "SHA1", Digits: 6, Period: 30}
}

func TestVerifySkew(t *testing.T) {
	f := sixDigitFactor()
	now := time.Unix(1_700_000_015, 0)
	cur := uint64(now.Unix() / 30)
	codeAt := func(step uint64) string {
		c, err := Code(f, time.Unix(int64(step)*30, 0))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, c := range []struct {
		offset int64
		skew   uint
		ok     bool
	}{
		{0, 0, true}, {-1, 0, false}, {1, 0, false},
		{0, 1, true}, {-1, 1, true}, {1, 1, true}, {-2, 1, false}, {2, 1, false},
		{-2, 2, true}, {2, 2, true}, {-3, 2, false},
	} {
		want := uint64(int64(cur) + c.offset)
		step, ok := Verify(f, codeAt(want), now, c.skew)
		if ok != c.ok || (ok && step != want) {
			t.Errorf("offset %+d skew %d: Verify = %d, %v; want %d, %v", c.offset, c.skew, step, ok, want, c.ok)
		}
	}
	// Skew near the epoch does not wrap around to huge steps.
	if step, ok := Verify(f, codeAt(0), time.Unix(10, 0), 1); !ok || step != 0 {
		t.Errorf("at step 0 with skew 1: Verify = %d, %v; want 0, true", step, ok)
	}
	if _, ok := Verify(f, codeAt(cur), now, MaxSkew+1); ok {
		t.Error("skew above MaxSkew accepted")
	}
	if _, ok := Verify(f, codeAt(0), time.Unix(-1, 0), 1); ok {
		t.Error("time before the epoch accepted")
	}
	if _, err := Code(f, time.Unix(-1, 0)); err == nil {
		t.Error("Code before the epoch succeeded")
	}
}

func TestVerifyRefusesMalformedCodes(t *testing.T) {
	f := sixDigitFactor()
	now := time.Unix(1_700_000_015, 0)
	good, err := Code(f, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := Verify(f, good, now, 1); !ok {
		t.Fatal("valid code refused")
	}
	for _, code := range []string{
		"",
		good[:5],
		good + "0",
		" " + good[1:],
		good[:5] + " ",
		"+" + good[1:],
		"-" + good[1:],
		"٣٣٣",                     // 6 bytes of Arabic-Indic digits
		"１２３",                     // 9 bytes of fullwidth digits
		good[:3] + "٣" + good[5:], // 6 bytes, one non-ASCII digit
		good[:5] + "\x00",
		"0x" + good[2:],
	} {
		if _, ok := Verify(f, code, now, 1); ok {
			t.Errorf("Verify(%q) accepted", code)
		}
	}
	// A 6-digit code is not accepted by an 8-digit factor, nor the reverse.
	f8 := rfcFactor("SHA1")
	code8, err := Code(f8, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := Verify(f8, code8[2:], now, 1); ok {
		t.Error("8-digit factor accepted 6 digits")
	}
}

func TestVerifyRefusesInvalidFactors(t *testing.T) {
	now := time.Unix(1_700_000_015, 0)
	good := sixDigitFactor()
	code, err := Code(good, now)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(m func(*store.TOTP)) *store.TOTP {
		f := *good
		m(&f)
		return &f
	}
	for name, f := range map[string]*store.TOTP{
		"nil":          nil,
		"empty secret": mutate(func(f *store.TOTP) { f.Secret = "" }),
		"short secret": mutate(func(f *store.TOTP) { f.Secret = b32.EncodeToString([]byte("short")) }),
		"not base32":   mutate(func(f *store.TOTP) { f.Secret = "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" }),
		"algorithm":    mutate(func(f *store.TOTP) { f.Algorithm = "MD5" }),
		"digits":       mutate(func(f *store.TOTP) { f.Digits = 7 }),
		"period":       mutate(func(f *store.TOTP) { f.Period = 0 }),
	} {
		if _, ok := Verify(f, code, now, 1); ok {
			t.Errorf("%s: Verify accepted", name)
		}
		if _, err := Code(f, now); err == nil {
			t.Errorf("%s: Code succeeded", name)
		} else if f != nil && f.Secret != "" && strings.Contains(err.Error(), f.Secret) {
			t.Errorf("%s: error reveals the secret: %v", name, err)
		}
	}
}

func TestGenerate(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		alg    string
		digits int
		period time.Duration
		bytes  int
	}{
		{"SHA1", 6, 30 * time.Second, 20},
		{"sha256", 8, 60 * time.Second, 32},
		{"SHA512", 6, 30 * time.Second, 64},
	} {
		cfg := DefaultConfig()
		cfg.Issuer = "Example Corp"
		cfg.Algorithm = c.alg
		cfg.Digits = c.digits
		cfg.Period = c.period
		f, key, err := Generate(cfg, "alice@example.com", now)
		if err != nil {
			t.Fatalf("%s: Generate: %v", c.alg, err)
		}
		canonical := strings.ToUpper(c.alg)
		if f.Algorithm != canonical || f.Digits != c.digits || f.Period != int(c.period/time.Second) || !f.CreatedAt.Equal(now) {
			t.Errorf("%s: factor %+v", c.alg, *f)
		}
		secret, err := b32.DecodeString(f.Secret)
		if err != nil || len(secret) != c.bytes {
			t.Errorf("%s: secret is %d bytes (err %v), want %d", c.alg, len(secret), err, c.bytes)
		}

		u, err := url.Parse(key.String())
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if u.Scheme != "otpauth" || u.Host != "totp" {
			t.Errorf("%s: URI %s is not otpauth://totp", c.alg, u.Redacted())
		}
		if want := "/Example Corp:alice@example.com"; u.Path != want {
			t.Errorf("%s: label %q, want %q", c.alg, u.Path, want)
		}
		for k, want := range map[string]string{
			"issuer":    "Example Corp",
			"algorithm": canonical,
			"digits":    strconv.Itoa(f.Digits),
			"period":    strconv.Itoa(f.Period),
			"secret":    f.Secret,
		} {
			if got := q.Get(k); got != want {
				t.Errorf("%s: URI %s=%q, want %q", c.alg, k, got, want)
			}
		}

		// Codes agree with pquerna's own validator for the key's settings.
		code, err := Code(f, now)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := pqtotp.ValidateCustom(code, key.Secret(), now, pqtotp.ValidateOpts{
			Period: uint(key.Period()), Digits: key.Digits(), Algorithm: key.Algorithm(),
		})
		if !ok || err != nil {
			t.Errorf("%s: pquerna/otp refuses our code: %v", c.alg, err)
		}
		if _, ok := Verify(f, code, now, cfg.Skew); !ok {
			t.Errorf("%s: Verify refuses a fresh code", c.alg)
		}
	}

	a, _, _ := Generate(DefaultConfig(), "alice", now)
	b, _, _ := Generate(DefaultConfig(), "alice", now)
	if a.Secret == b.Secret {
		t.Error("two Generate calls produced the same secret")
	}
	if _, _, err := Generate(DefaultConfig(), "", now); err == nil {
		t.Error("Generate for an empty user succeeded")
	}
	bad := DefaultConfig()
	bad.Digits = 7
	if _, _, err := Generate(bad, "alice", now); err == nil {
		t.Error("Generate with an invalid config succeeded")
	}
}

func TestQRPNG(t *testing.T) {
	_, key, err := Generate(DefaultConfig(), "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := QRPNG(&buf, key, 256); err != nil {
		t.Fatalf("QRPNG: %v", err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("decode PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
		t.Errorf("image is %dx%d, want 256x256", b.Dx(), b.Dy())
	}
	for _, size := range []int{0, -1, 10, maxQRSize + 1} {
		if err := QRPNG(&bytes.Buffer{}, key, size); err == nil {
			t.Errorf("QRPNG size %d succeeded", size)
		} else if strings.Contains(err.Error(), key.Secret()) {
			t.Errorf("QRPNG size %d: error reveals the secret", size)
		}
	}
	if err := QRPNG(&bytes.Buffer{}, nil, 256); err == nil {
		t.Error("QRPNG of nil key succeeded")
	}
}
