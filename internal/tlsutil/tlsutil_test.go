package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	cert, fp, created, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("first call: created = false, want true")
	}
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("fingerprint = %q, want 32 colon-separated upper-case hex bytes", fp)
	}
	if got := Fingerprint(cert); got != fp {
		t.Errorf("Fingerprint(cert) = %q, want %q", got, fp)
	}

	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode = %v, want 0600", got)
	}

	leaf := cert.Leaf
	if leaf == nil {
		t.Fatal("Leaf is nil")
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("VerifyHostname(%q): %v", host, err)
		}
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d != validity {
		t.Errorf("validity = %v, want %v", d, validity)
	}

	cert2, fp2, created2, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if created2 {
		t.Error("second call: created = true, want false")
	}
	if fp2 != fp || !cert2.Leaf.Equal(leaf) {
		t.Errorf("second call loaded fingerprint %s, want the first cert's %s", fp2, fp)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(matches) != 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
}

func TestLoadOrCreateSerialsDiffer(t *testing.T) {
	a, _, _, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) == 0 {
		t.Error("two generated certificates share a serial number")
	}
}

func TestLoadOrCreateRefusesLoneFile(t *testing.T) {
	dir := t.TempDir()
	if _, _, _, err := LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, CertFile)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := LoadOrCreate(dir); err == nil {
		t.Fatal("LoadOrCreate with only the key present: got no error")
	}
}

func TestServerConfigVersions(t *testing.T) {
	cert, _, _, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)

	tests := []struct {
		name       string
		maxVersion uint16
		wantErr    bool
	}{
		{"tls12 max", tls.VersionTLS12, true},
		{"tls13", tls.VersionTLS13, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := &tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: tt.maxVersion}
			version, err := handshake(t, ServerConfig(cert), client)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("handshake error = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "protocol version") {
				t.Errorf("handshake error = %v, want a protocol version error", err)
			}
			if err == nil && version != tls.VersionTLS13 {
				t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(version))
			}
		})
	}
}

// handshake runs a TLS handshake between a loopback server and client and
// returns the client's result.
func handshake(t *testing.T, server, client *tls.Config) (uint16, error) {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.(*tls.Conn).Handshake() // Its error shows on the client side.
	}()
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", l.Addr().String(), client)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return conn.ConnectionState().Version, nil
}
