//go:build race

package attack

// raceEnabled: the race detector slows timing measurements down tenfold,
// so they measure fewer rounds.
const raceEnabled = true
