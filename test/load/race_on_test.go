//go:build race

package load

// raceEnabled: the race detector is on (go test -race).
const raceEnabled = true
