//go:build !race

package e2e

// raceEnabled reports whether the test runs under the race detector; the
// binary under test is then built with it too.
const raceEnabled = false
