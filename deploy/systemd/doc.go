// Package systemd holds the example systemd unit kassa.service and the
// sysusers.d entry of its user. It has no Go code; its test checks that
// every flag the unit passes is one `kassa serve` defines, and runs
// `systemd-analyze verify` on the unit where systemd is installed.
package systemd
