//go:build race

package business_test

// raceEnabled: the race detector instruments the transpiled SQLite too,
// which makes the million-payment report take many minutes; .ci/run runs
// that test again without it.
const raceEnabled = true
