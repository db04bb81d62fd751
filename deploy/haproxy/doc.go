// Package haproxy holds an example HAProxy configuration (haproxy.cfg) for
// several Kassa nodes. It has no Go code; its tests run `haproxy -c` on the
// file where HAProxy is installed, run the file in front of a real kassa
// serve on loopback, and check the health check's path is a route Kassa
// serves.
package haproxy
