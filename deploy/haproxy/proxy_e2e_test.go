package haproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// startDeadline bounds how long the test waits for Kassa and HAProxy to
// come up (it polls; the figure only stops a test that would never pass).
const startDeadline = 60 * time.Second

// buildKassa builds cmd/kassa into a temporary directory.
func buildKassa(t *testing.T) string {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Fatalf("no go command to build kassa with: %v", err)
		}
	}
	bin := filepath.Join(t.TempDir(), "kassa")
	out, err := exec.Command(gobin, "build", "-o", bin, "../../cmd/kassa").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/kassa: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs a command until the test ends, its output in a file.
func start(t *testing.T, logPath string, name string, args ...string) {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s output:\n%s", filepath.Base(name), b)
		}
	})
}

// replaceLine replaces the one line of cfg whose trimmed text is old.
func replaceLine(t *testing.T, cfg, old, repl string) string {
	t.Helper()
	lines := strings.Split(cfg, "\n")
	n := 0
	for i, l := range lines {
		if strings.TrimSpace(l) == old {
			lines[i] = "    " + repl
			n++
		}
	}
	if n != 1 {
		t.Fatalf("haproxy.cfg has %d lines %q, the test expects 1: update the test with the example", n, old)
	}
	return strings.Join(lines, "\n")
}

// TestProxyToNode runs haproxy.cfg, pointed at loopback, in front of a
// real kassa serve with --trusted-proxies 127.0.0.1: the health check on
// /readyz passes over TLS 1.3 with the node's certificate verified, a
// client's forged X-Forwarded-For is dropped and the node sees the
// client's own address, and plain HTTP is redirected to HTTPS.
func TestProxyToNode(t *testing.T) {
	haproxy := needHAProxy(t)
	bin := buildKassa(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	nodePort, httpsPort, httpPort := freePort(t), freePort(t), freePort(t)
	kassaLog := filepath.Join(dir, "kassa.log")
	start(t, kassaLog, bin, "serve", "--data", data, "--listen", fmt.Sprintf("127.0.0.1:%d", nodePort),
		"--metrics-listen", "off", "--trusted-proxies", "127.0.0.1")

	// The node is up once its self-signed certificate verifies.
	var nodeCA *x509.CertPool
	ctx, cancel := context.WithTimeout(context.Background(), startDeadline)
	defer cancel()
	for nodeCA == nil {
		if pem, err := os.ReadFile(filepath.Join(data, "tls-cert.pem")); err == nil {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
			if resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/healthz", nodePort)); err == nil {
				resp.Body.Close()
				nodeCA = pool
			}
		}
		if nodeCA == nil {
			select {
			case <-ctx.Done():
				t.Fatal("kassa serve did not come up")
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	b, err := os.ReadFile("haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, drop := range []string{"user haproxy", "group haproxy", "chroot /var/lib/haproxy"} {
		cfg = replaceLine(t, cfg, drop, "")
	}
	cfg = replaceLine(t, cfg, "log /dev/log local0", "log stderr format raw local0")
	cfg = replaceLine(t, cfg, "maxconn 20000", "maxconn 1000") // no root to raise the file limit
	cfg = replaceLine(t, cfg, "bind :443 ssl crt /etc/haproxy/kassa/public.pem alpn h2,http/1.1",
		fmt.Sprintf("bind 127.0.0.1:%d ssl crt %s/public.pem alpn h2,http/1.1", httpsPort, dir))
	cfg = replaceLine(t, cfg, "bind :80", fmt.Sprintf("bind 127.0.0.1:%d", httpPort))
	cfg = replaceLine(t, cfg, "server node1 10.0.0.11:8443 sni str(node1.kassa.internal) verifyhost node1.kassa.internal",
		fmt.Sprintf("server node1 127.0.0.1:%d sni str(localhost) verifyhost localhost", nodePort))
	for _, n := range []string{"2", "3"} {
		cfg = replaceLine(t, cfg, "server node"+n+" 10.0.0.1"+n+":8443 sni str(node"+n+".kassa.internal) verifyhost node"+n+".kassa.internal", "")
	}
	cfg = strings.ReplaceAll(cfg, "/etc/haproxy/kassa/nodes-ca.pem", filepath.Join(data, "tls-cert.pem"))
	cert, key := selfSigned(t)
	if err := os.WriteFile(filepath.Join(dir, "public.pem"), append(cert, key...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, filepath.Join(dir, "haproxy.log"), haproxy, "-db", "-f", cfgPath)

	// A client on 127.0.0.2 claiming to be 6.6.6.6.
	public := x509.NewCertPool()
	public.AppendCertsFromPEM(cert)
	client := &http.Client{
		Transport: &http.Transport{
			DialContext:     (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext,
			TLSClientConfig: &tls.Config{RootCAs: public, ServerName: "pay.example.com"},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	status := 0
	for status != http.StatusOK {
		req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/readyz", httpsPort), nil)
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		if resp, err := client.Do(req); err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		if status != http.StatusOK {
			select {
			case <-ctx.Done():
				t.Fatalf("HAProxy did not pass /readyz through (last status %d)", status)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(loc, "https://") {
		t.Errorf("plain HTTP answered %d Location %q, want 301 to https://", resp.StatusCode, loc)
	}

	// What the node saw: its health checks from the proxy, and the client.
	logb, err := os.ReadFile(kassaLog)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(logb))
	for sc.Scan() {
		var line struct {
			Path     string `json:"path"`
			RemoteIP string `json:"remote_ip"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Path == "/readyz" {
			seen[line.RemoteIP]++
		}
	}
	if seen["127.0.0.2"] == 0 {
		t.Errorf("the node never saw the client 127.0.0.2 on /readyz; remote addresses seen: %v", seen)
	}
	if seen["127.0.0.1"] == 0 {
		t.Errorf("the node saw no health check from the proxy; remote addresses seen: %v", seen)
	}
	if seen["6.6.6.6"] > 0 {
		t.Errorf("the client's forged X-Forwarded-For reached the node as its address: %v", seen)
	}
}
