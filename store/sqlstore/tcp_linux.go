package sqlstore

import (
	"syscall"
	"time"
)

// tcpUserTimeout is TCP_USER_TIMEOUT from linux/tcp.h (the syscall
// package does not name it).
const tcpUserTimeout = 0x12

// setTCPUserTimeout sets TCP_USER_TIMEOUT on the socket fd.
func setTCPUserTimeout(fd uintptr, d time.Duration) error {
	return syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(d.Milliseconds()))
}
