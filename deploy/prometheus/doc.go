// Package prometheus holds Kassa's Prometheus alert rules (alerts.yml) and
// their unit tests (rules_test.yml, run by promtool). It has no Go code; its
// test runs promtool and checks the rules name only metrics Kassa exports.
package prometheus
