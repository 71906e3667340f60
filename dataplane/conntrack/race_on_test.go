//go:build race

package conntrack

// raceEnabled scales down the heaviest randomised tests under the race
// detector, which slows them about tenfold.
const raceEnabled = true
