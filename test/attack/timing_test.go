package attack

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// TestVerifyTimingLeaksNoPrefix measures totp.Verify on wrong codes that
// share 0 to 5 leading digits with the right code. A comparison that
// stops at the first differing digit would take longer the longer the
// shared prefix; the constant-time comparison must show no such trend
// beyond the noise of the machine.
//
// To stay robust on a loaded 2-core machine, the classes are measured
// interleaved, in a random order in every round, in batches; each class is
// compared with class 0 of the same round, and the medians of those paired
// differences are what is judged. A control class (another code sharing
// no digit) measures the noise. The same statistic is applied to a
// deliberately leaky verifier first, to show the test can see a leak.
func TestVerifyTimingLeaksNoPrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("timing measurement skipped in -short mode")
	}
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	f, _, err := totp.Generate(totp.DefaultConfig(), "timing", now)
	if err != nil {
		t.Fatal(err)
	}
	right, err := totp.Code(f, now)
	if err != nil {
		t.Fatal(err)
	}
	codes := prefixCodes(t, f, right, now)

	leaky := func(code string) {
		totp.Verify(f, code, now, 1)
		for i := 0; i < len(code) && code[i] == right[i]; i++ {
			totp.Verify(f, right, now, 0) // an early-exit compare costing one HMAC per digit
		}
	}
	real := func(code string) { totp.Verify(f, code, now, 1) }

	if slope, bound := measureTrend(codes, leaky); slope <= bound {
		t.Fatalf("the measurement cannot see a leak of one HMAC per matching digit: trend %.1f%%, bound %.1f%%",
			100*slope, 100*bound)
	}
	slope, bound := measureTrend(codes, real)
	t.Logf("totp.Verify: trend over 0..5 matching digits %+.2f%% of the baseline (bound ±%.2f%%)", 100*slope, 100*bound)
	if slope > bound || slope < -bound {
		t.Fatalf("totp.Verify time depends on how many leading digits match: trend %+.2f%%, bound ±%.2f%%",
			100*slope, 100*bound)
	}
}

// prefixCodes returns 7 wrong codes: codes[k] shares exactly k leading
// digits with right (k = 0..5), and codes[6] is a control sharing none.
// None of them matches any step Verify accepts.
func prefixCodes(t *testing.T, f *store.TOTP, right string, now time.Time) []string {
	var out []string
	for k := 0; k <= 6; k++ {
		shared, shift := k, byte(5)
		if k == 6 {
			shared, shift = 0, 3
		}
		b := []byte(right)
		for i := shared; i < len(b); i++ {
			b[i] = '0' + (b[i]-'0'+shift)%10
			if i > shared {
				shift = shift%9 + 1
			}
		}
		code := string(b)
		if _, ok := totp.Verify(f, code, now, 1); ok {
			t.Fatalf("constructed wrong code %q matches", code)
		}
		out = append(out, code)
	}
	return out
}

// measureTrend times verify on each code and returns the least-squares
// slope, times 5, of the median paired difference from class 0 relative to
// class 0's median (the trend from 0 to 5 matching digits, as a fraction
// of the baseline), and the bound a trend must exceed to be more than noise.
func measureTrend(codes []string, verify func(string)) (trend, bound float64) {
	rounds, batch := 300, 24
	if raceEnabled {
		rounds, batch = 150, 8
	}
	n := len(codes)
	samples := make([][]float64, n)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 30*batch; i++ { // warm up
		verify(codes[i%n])
	}
	for r := 0; r < rounds; r++ {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, c := range order {
			code := codes[c]
			start := time.Now()
			for i := 0; i < batch; i++ {
				verify(code)
			}
			samples[c] = append(samples[c], float64(time.Since(start)))
		}
	}
	base := median(samples[0])
	rel := make([]float64, n)
	for c := 1; c < n; c++ {
		d := make([]float64, rounds)
		for r := range d {
			d[r] = samples[c][r] - samples[0][r]
		}
		rel[c] = median(d) / base
	}
	// Least squares over k = 0..5 of rel[k].
	var sx, sy, sxx, sxy float64
	for k := 0; k <= 5; k++ {
		x, y := float64(k), rel[k]
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	slope := (6*sxy - sx*sy) / (6*sxx - sx*sx)
	intercept := (sy - slope*sx) / 6
	// Noise: the control class's offset, and how far the classes scatter
	// around the fitted line.
	noise := abs(rel[6])
	for k := 0; k <= 5; k++ {
		noise = max(noise, abs(rel[k]-(intercept+slope*float64(k))))
	}
	return 5 * slope, max(0.05, 4*noise)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
