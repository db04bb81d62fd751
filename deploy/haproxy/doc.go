// Package haproxy holds an example HAProxy configuration (haproxy.cfg) for
// several Kassa nodes. It has no Go code; its test runs `haproxy -c` on the
// file where HAProxy is installed and checks the health check's path is a
// route Kassa serves.
package haproxy
