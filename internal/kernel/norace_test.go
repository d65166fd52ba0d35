//go:build !race

package kernel

// raceEnabled trims the largest test loops under the (slow) race detector.
const raceEnabled = false
