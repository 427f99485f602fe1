//go:build race

package revoked

// raceEnabled: the race detector multiplies memory and time; measurements are skipped.
const raceEnabled = true
