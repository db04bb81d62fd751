//go:build !race

package business_test

const raceEnabled = false
