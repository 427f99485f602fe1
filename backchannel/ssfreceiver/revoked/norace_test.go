//go:build !race

package revoked

const raceEnabled = false
