//go:build !linux

package sqlstore

import "time"

// setTCPUserTimeout does nothing where TCP_USER_TIMEOUT does not exist;
// keepalives still find a vanished server.
func setTCPUserTimeout(fd uintptr, d time.Duration) error { return nil }
