//go:build race

package cache

// raceEnabled: the race detector multiplies memory, so memory figures are
// not meaningful under it.
const raceEnabled = true
