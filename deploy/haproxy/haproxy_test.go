package haproxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// envRequire lists what must not be skipped (comma-separated); with
// "haproxy" in it, a missing haproxy fails the test.
const envRequire = "KASSA_TEST_REQUIRE"

// filesDir is where haproxy.cfg expects its certificate files.
const filesDir = "/etc/haproxy/kassa/"

// needHAProxy returns haproxy's path, or skips t loudly (fails it when
// KASSA_TEST_REQUIRE names haproxy).
func needHAProxy(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("haproxy")
	if err == nil {
		return path
	}
	if slices.Contains(strings.Split(os.Getenv(envRequire), ","), "haproxy") {
		t.Fatalf("haproxy is required (%s names haproxy) but not found: %v; apt-get install haproxy", envRequire, err)
	}
	t.Skipf("SKIPPED: haproxy not found (%v); apt-get install haproxy, or set %s=haproxy to fail instead", err, envRequire)
	return ""
}

// selfSigned returns a PEM certificate and PEM private key.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kassa test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		DNSNames:              []string{"pay.example.com"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// TestConfigValid runs haproxy -c on haproxy.cfg, with its certificate
// files made in a temporary directory. Warnings fail the test too.
func TestConfigValid(t *testing.T) {
	haproxy := needHAProxy(t)
	cfg, err := os.ReadFile("haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := selfSigned(t)
	files := map[string][]byte{"public.pem": append(append([]byte{}, cert...), key...), "nodes-ca.pem": cert}
	for _, name := range regexp.MustCompile(regexp.QuoteMeta(filesDir)+`[a-z0-9.-]+`).FindAllString(string(cfg), -1) {
		base := strings.TrimPrefix(name, filesDir)
		if files[base] == nil {
			t.Fatalf("haproxy.cfg names %s; the test does not know what to put there", name)
		}
		if err := os.WriteFile(filepath.Join(dir, base), files[base], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(cfg), filesDir, dir+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(haproxy, "-c", "-f", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "[WARNING]") || strings.Contains(string(out), "[ALERT]") {
		t.Errorf("haproxy -c -f haproxy.cfg: %v\n%s", err, out)
	}
}

// TestHealthCheckRoute: the health check asks for a path Kassa serves
// without authentication.
func TestHealthCheckRoute(t *testing.T) {
	cfg, err := os.ReadFile("haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*http-check send .*\buri (\S+)`).FindSubmatch(cfg)
	if m == nil {
		t.Fatal("haproxy.cfg has no http-check send ... uri")
	}
	server, err := os.ReadFile(filepath.Join("..", "..", "httpapi", "server.go"))
	if err != nil {
		t.Fatal(err)
	}
	route := `s.Handle("GET", "` + string(m[1]) + `", AuthNone,`
	if !strings.Contains(string(server), route) {
		t.Errorf("the health check asks for %s, but httpapi/server.go has no %s", m[1], route)
	}
	if !strings.Contains(string(cfg), "option forwardfor") {
		t.Error("haproxy.cfg does not add X-Forwarded-For (option forwardfor)")
	}
}

// TestBackendTLS: the proxy verifies the nodes' certificates and speaks
// TLS 1.3 to them (TestProxyToNode passes with verification off too, so
// this is checked here).
func TestBackendTLS(t *testing.T) {
	cfg, err := os.ReadFile("haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ssl-default-server-options ssl-min-ver TLSv1.3", "ssl verify required ca-file "} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*server \S+ .*$`).FindAllString(string(cfg), -1) {
		if !strings.Contains(m, "verifyhost ") {
			t.Errorf("%q: no verifyhost", strings.TrimSpace(m))
		}
	}
}
