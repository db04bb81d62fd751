package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/internal/pgtest"
)

// TestE2ERefusesNotDurablePostgres runs kassa migrate and kassa serve on a
// PostgreSQL cluster with fsync and full_page_writes off: both refuse,
// naming the settings, and exit 1; with --unsafe-no-durability both run
// and log the settings they read.
func TestE2ERefusesNotDurablePostgres(t *testing.T) {
	url := pgtest.PrivateURL(t, "fsync=off", "full_page_writes=off")
	b := backend{"postgres", []string{"--data", t.TempDir(), "--database", url}, ""}
	b.data = b.args[1]
	for _, cmd := range [][]string{{"migrate"}, {"serve", "--listen", "127.0.0.1:0"}} {
		// A serve that does not refuse would run until killed.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c := exec.CommandContext(ctx, kassaBin, append(cmd, b.args...)...)
		out, _ := c.CombinedOutput()
		cancel()
		if code := c.ProcessState.ExitCode(); code != 1 {
			t.Errorf("kassa %s exited %d, want 1\n%s", cmd[0], code, out)
		}
		for _, want := range []string{"not durable", "fsync=off", "full_page_writes=off", "--unsafe-no-durability"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("kassa %s said %q, want it to name %q", cmd[0], out, want)
			}
		}
	}

	out, err := exec.Command(kassaBin, append([]string{"migrate", "--unsafe-no-durability"}, b.args...)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "schema version") || !strings.Contains(string(out), `"fsync":"off"`) {
		t.Errorf("migrate --unsafe-no-durability: %v\n%s", err, out)
	}
	s := startServe(t, b, "--unsafe-no-durability")
	if resp, _ := s.request(t, "GET", "/healthz", "", nil); resp.StatusCode != 200 {
		t.Errorf("healthz = %d", resp.StatusCode)
	}
	if log := s.stderr.String(); !strings.Contains(log, "UNSAFE") || !strings.Contains(log, `"full_page_writes":"off"`) {
		t.Errorf("serve logged no durability warning:\n%s", log)
	}
}

// TestE2EDurabilityLogged: on durable databases serve logs what it read.
func TestE2EDurabilityLogged(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := startServe(t, b)
		want := `"synchronous":"FULL"`
		if b.name == "postgres" {
			want = `"fsync":"on","synchronous_commit":"on","full_page_writes":"on"`
		}
		if log := s.stderr.String(); !strings.Contains(log, want) {
			t.Errorf("serve log lacks %s:\n%s", want, log)
		}
	})
}
