package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kassa/kassa/internal/pgtest"
)

// needAutoctl returns pg_autoctl's path, or skips t loudly (fails it when
// KASSA_TEST_REQUIRE names pgautofailover).
func needAutoctl(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("pg_autoctl")
	if err == nil {
		if _, err = os.Stat(filepath.Join(pgtest.BinDir, "pg_ctl")); err == nil {
			return path
		}
	}
	if slices.Contains(strings.Split(os.Getenv(pgtest.EnvRequire), ","), "pgautofailover") {
		t.Fatalf("pg_autoctl and PostgreSQL 15 are required (%s names pgautofailover): %v; apt-get install postgresql-15-auto-failover", pgtest.EnvRequire, err)
	}
	t.Skipf("SKIPPED: the failover drill needs pg_autoctl and PostgreSQL 15 (%v); apt-get install postgresql-15-auto-failover, or set %s=pgautofailover to fail instead", err, pgtest.EnvRequire)
	return ""
}

// haCluster is a pg_auto_failover formation on loopback: a monitor and
// two PostgreSQL nodes with synchronous replication, run as an
// unprivileged user (PostgreSQL refuses root).
type haCluster struct {
	t       *testing.T
	autoctl string
	base    string // owned by the user
	sock    string
	cred    *syscall.Credential
	env     []string
	user    string
	ports   map[string]int       // monitor, node1, node2
	procs   map[string]*exec.Cmd // pg_autoctl run, by name
	exited  map[string]chan struct{}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newHACluster(t *testing.T, autoctl string) *haCluster {
	t.Helper()
	c := &haCluster{t: t, autoctl: autoctl, cred: pgUser(t), ports: map[string]int{},
		procs: map[string]*exec.Cmd{}, exited: map[string]chan struct{}{}}
	home := os.Getenv("HOME")
	if c.cred != nil {
		u, err := user.Lookup("kassapg")
		if err != nil {
			t.Fatal(err)
		}
		c.user, home = u.Username, u.HomeDir
	} else {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		c.user = u.Username
	}
	base, err := os.MkdirTemp("", "kassa-ha-")
	if err != nil {
		t.Fatal(err)
	}
	c.base, c.sock = base, filepath.Join(base, "sock")
	for _, d := range []string{c.sock, filepath.Join(base, "xdg", "config"), filepath.Join(base, "xdg", "data"), filepath.Join(base, "xdg", "run")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if c.cred != nil {
		filepath.WalkDir(base, func(p string, _ os.DirEntry, _ error) error {
			return os.Chown(p, int(c.cred.Uid), int(c.cred.Gid))
		})
	}
	c.env = []string{
		"PATH=" + pgtest.BinDir + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + home, "USER=" + c.user, "LANG=C.UTF-8",
		// -k for every postgres pg_autoctl starts: /var/run/postgresql is not ours.
		"PG_REGRESS_SOCK_DIR=" + c.sock, "PGHOST=" + c.sock,
		// Keep pg_autoctl's configuration, state and pid files in base.
		"XDG_CONFIG_HOME=" + filepath.Join(base, "xdg", "config"),
		"XDG_DATA_HOME=" + filepath.Join(base, "xdg", "data"),
		"XDG_RUNTIME_DIR=" + filepath.Join(base, "xdg", "run"),
	}
	for _, n := range []string{"monitor", "node1", "node2"} {
		c.ports[n] = freeLoopbackPort(t)
	}
	t.Cleanup(c.stop)
	return c
}

func (c *haCluster) command(args ...string) *exec.Cmd {
	cmd := exec.Command(c.autoctl, args...)
	cmd.Dir, cmd.Env = c.base, c.env
	// A process group of its own: the drill kills a node's whole tree.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
	return cmd
}

// common are the options every create takes: loopback only (without
// --hostname pg_autoctl probes an outside address to find its own).
func (c *haCluster) common() []string {
	return []string{"--hostname", "127.0.0.1", "--listen", "127.0.0.1", "--auth", "trust", "--no-ssl",
		"--pgctl", filepath.Join(pgtest.BinDir, "pg_ctl")}
}

func (c *haCluster) monitorURI() string {
	return fmt.Sprintf("postgres://autoctl_node@127.0.0.1:%d/pg_auto_failover?sslmode=disable", c.ports["monitor"])
}

// run starts a long-running pg_autoctl for name, its output in name.log.
func (c *haCluster) run(name string, args ...string) {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.base, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := c.command(args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	c.procs[name], c.exited[name] = cmd, done
}

// query runs one query returning one text value on the server at port,
// through its Unix socket.
func (c *haCluster) query(port int, db, q string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", c.user, db, c.sock, port))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v *string
	if err := conn.QueryRow(ctx, q).Scan(&v); err != nil {
		return "", err
	}
	if v == nil {
		return "", nil
	}
	return *v, nil
}

// states returns each node's "reported/goal" state as the monitor sees it.
func (c *haCluster) states() map[string]string {
	s, err := c.query(c.ports["monitor"], "pg_auto_failover",
		"SELECT string_agg(nodename||'='||reportedstate||'/'||goalstate, ' ' ORDER BY nodeid) FROM pgautofailover.node")
	out := map[string]string{}
	if err != nil {
		return out
	}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		out[k] = v
	}
	return out
}

// waitFor polls cond every 100 ms until it holds or limit passes (a
// bound on a wait, not a timed assertion).
func (c *haCluster) waitFor(what string, limit time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			c.dumpLogs()
			c.t.Fatalf("%s: not within %v; states %v", what, limit, c.states())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *haCluster) dumpLogs() {
	for _, n := range []string{"monitor", "node1", "node2"} {
		b, _ := os.ReadFile(filepath.Join(c.base, n+".log"))
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		c.t.Logf("%s.log (tail):\n%s", n, b)
	}
}

// start creates the monitor with short health-check timeouts and a pair
// of nodes, and waits until node1 is primary with node2 as its
// synchronous standby.
func (c *haCluster) start() {
	t := c.t
	t.Helper()
	out, err := c.command(append([]string{"create", "monitor", "--pgdata", filepath.Join(c.base, "monitor"),
		"--pgport", strconv.Itoa(c.ports["monitor"])}, c.common()...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_autoctl create monitor: %v\n%s", err, out)
	}
	c.run("monitor", "run", "--pgdata", filepath.Join(c.base, "monitor"))
	c.waitFor("the monitor answers", 60*time.Second, func() bool {
		_, err := c.query(c.ports["monitor"], "pg_auto_failover", "SELECT 'ok'")
		return err == nil
	})
	// The defaults (checks every 5 s, a node unhealthy after 20 s, a
	// demotion timeout of 30 s) fail over in about 50 s; these, meant for
	// one host, in about 10 s (docs/operations.md).
	for _, kv := range []string{"health_check_period=1000", "health_check_timeout=1000", "health_check_max_retries=1",
		"health_check_retry_delay=500", "node_considered_unhealthy_timeout=5000", "primary_demote_timeout=5000"} {
		k, v, _ := strings.Cut(kv, "=")
		if _, err := c.query(c.ports["monitor"], "pg_auto_failover", "ALTER SYSTEM SET pgautofailover."+k+" = "+v); err != nil && !strings.Contains(err.Error(), "no rows") {
			t.Fatalf("monitor setting %s: %v", kv, err)
		}
	}
	if _, err := c.query(c.ports["monitor"], "pg_auto_failover", "SELECT pg_reload_conf()::text"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"node1", "node2"} {
		c.run(n, append([]string{"create", "postgres", "--pgdata", filepath.Join(c.base, n), "--pgport", strconv.Itoa(c.ports[n]),
			"--name", n, "--dbname", "appdb", "--monitor", c.monitorURI(), "--run"}, c.common()...)...)
		if n == "node1" {
			c.waitFor("node1 primary", 90*time.Second, func() bool { return c.states()["node1"] == "single/single" })
		}
	}
	c.waitFor("node2 a secondary", 120*time.Second, func() bool {
		// The standby's base backup waits for a checkpoint on the primary;
		// a spread one takes minutes.
		c.query(c.ports["node1"], "appdb", "CHECKPOINT")
		s := c.states()
		return s["node1"] == "primary/primary" && s["node2"] == "secondary/secondary"
	})
	c.waitFor("a synchronous standby", 30*time.Second, func() bool {
		n, _ := c.query(c.ports["node1"], "appdb", "SELECT count(*)::text FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')")
		return n == "1"
	})
	sync, _ := c.query(c.ports["node1"], "appdb", "SELECT current_setting('synchronous_standby_names')||' synchronous_commit='||current_setting('synchronous_commit')")
	t.Logf("pair up: node1 primary, node2 synchronous standby (%s)", sync)
}

// url is the multi-host connection string Kassa is given.
func (c *haCluster) url() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d,127.0.0.1:%d/appdb?target_session_attrs=read-write&sslmode=disable&connect_timeout=2",
		c.user, c.ports["node1"], c.ports["node2"])
}

// kill SIGKILLs a node's pg_autoctl and every process under it (postgres
// and its backends), as a machine that loses power would stop them.
func (c *haCluster) kill(name string) {
	cmd := c.procs[name]
	pids := append([]int{cmd.Process.Pid}, descendantPIDs(cmd.Process.Pid)...)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGKILL)
	}
}

// descendantPIDs lists the processes below pid, from /proc.
func descendantPIDs(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		for _, ch := range children[queue[0]] {
			out = append(out, ch)
			queue = append(queue, ch)
		}
	}
	return out
}

// stop stops every node it started (pg_autoctl stop, then SIGKILL of what
// is left, by pid) and removes the directory.
func (c *haCluster) stop() {
	for _, n := range []string{"node1", "node2", "monitor"} {
		cmd := c.procs[n]
		if cmd == nil {
			continue
		}
		select {
		case <-c.exited[n]:
			continue
		default:
		}
		stop := c.command("stop", "--pgdata", filepath.Join(c.base, n))
		stop.Run()
		select {
		case <-c.exited[n]:
		case <-time.After(20 * time.Second):
			c.kill(n)
			<-c.exited[n]
		}
	}
	// A node whose pg_autoctl was SIGKILLed may leave a postmaster.
	for _, n := range []string{"node1", "node2", "monitor"} {
		b, err := os.ReadFile(filepath.Join(c.base, n, "postmaster.pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if c.t.Failed() {
		c.dumpLogs()
	}
	os.RemoveAll(c.base)
}

// drillWrite is one write the drill's load sent: when it was sent and
// answered, and whether it was acknowledged.
type drillWrite struct {
	start, end time.Time
	ok         bool
}

// drillLedger is the ledger half of the load: batches of transfers with
// client-chosen ids between two accounts.
type drillLedger struct {
	mu       sync.Mutex
	acked    map[string]int64 // id → amount, answered ok or exists
	unknown  map[string]int64 // sent, no answer (or a 5xx): settled later
	writes   []drillWrite
	statuses map[int]int // HTTP statuses seen (0: no answer)
}

// postTransfers sends one batch and records what it was told.
func (l *drillLedger) postTransfers(s *server, key string, ts []map[string]any) (ok bool) {
	raw, _ := json.Marshal(map[string]any{"transfers": ts})
	req, _ := http.NewRequest("POST", s.base+"/v1/ledger/transfers", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := s.client.Do(req)
	status := 0
	var out struct{ Results []struct{ ID, Result string } }
	if err == nil {
		status = resp.StatusCode
		if json.NewDecoder(resp.Body).Decode(&out) != nil {
			status = 0
		}
		resp.Body.Close()
	}
	end := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[status]++
	ok = status == 200 && len(out.Results) == len(ts)
	l.writes = append(l.writes, drillWrite{start, end, ok})
	for i, tr := range ts {
		id, amount := tr["id"].(string), tr["amount"].(int64)
		if ok && (out.Results[i].Result == "ok" || out.Results[i].Result == "exists") {
			l.acked[id] = amount
			delete(l.unknown, id)
		} else if !ok {
			l.unknown[id] = amount
		}
	}
	return ok
}

// TestE2EFailoverDrill is the failover drill of docs/operations.md: a
// pg_auto_failover pair with synchronous replication, kassa serve on it
// through a multi-host URL (target_session_attrs=read-write), payment and
// ledger load, and the primary's whole process tree SIGKILLed. The
// standby is promoted; Kassa's writes succeed again through the same URL
// (the time is measured and logged, not asserted); /readyz answers 503
// while no writable database is reachable and 200 after; every
// acknowledged payment step and transfer is there; every request whose
// outcome was unknown is settled by sending it again with its
// Idempotency-Key (or transfer ids); the old primary rejoins as the new
// one's synchronous standby and Kassa writes through the whole pair again;
// kassa ledger verify and kassa reconcile pass.
func TestE2EFailoverDrill(t *testing.T) {
	autoctl := needAutoctl(t)
	if testing.Short() {
		t.Skip("the failover drill takes about a minute")
	}
	c := newHACluster(t, autoctl)
	tSetup := time.Now()
	c.start()
	t.Logf("TIMING pair set up in %v", time.Since(tSetup).Round(time.Millisecond))

	dir, err := os.MkdirTemp("", "kassa-ha-data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := backend{"pg-ha", []string{"--data", dir, "--database", c.url()}, dir}
	sk, pk := createMerchantKeys(t, b)
	const payWorkers, ledgerWorkers, face = 3, 3, 500_000
	out, err := runKassa(t, b, "vouchers", "issue", "--count", strconv.Itoa(payWorkers),
		"--amount", strconv.Itoa(face), "--currency", "EUR", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []issuedVoucher
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v issuedVoucher
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("vouchers issue --json line %q: %v", line, err)
		}
		vs = append(vs, v)
	}
	s := startServe(t, b, "--rate-limit", "0")
	for _, acct := range []string{"src", "dst"} {
		resp, body := s.request(t, "POST", "/v1/ledger/accounts", sk, map[string]any{"id": acct, "currency": "EUR"})
		mustStatus(t, resp, body, 201)
	}

	// /readyz, polled every 100 ms from before the kill to the end.
	type probe struct {
		at     time.Time
		status int
	}
	var probesMu sync.Mutex
	var probes []probe
	stopProbe := make(chan struct{})
	var probeWG sync.WaitGroup
	probeWG.Go(func() {
		client := &http.Client{Timeout: 5 * time.Second, Transport: s.client.Transport}
		for {
			select {
			case <-stopProbe:
				return
			case <-time.After(100 * time.Millisecond):
			}
			status := 0
			if resp, err := client.Get(s.base + "/readyz"); err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			probesMu.Lock()
			probes = append(probes, probe{time.Now(), status})
			probesMu.Unlock()
		}
	})

	load := &crashLoad{flows: map[string]*crashFlow{}}
	led := &drillLedger{acked: map[string]int64{}, unknown: map[string]int64{}, statuses: map[int]int{}}
	var payMu sync.Mutex
	var payWrites []drillWrite // one per payment flow (create, confirm, capture, refund)
	payDone := 0               // flows whose every step was acknowledged
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range payWorkers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				amount := int64(100 + (i*37+w*11)%500)
				f := &crashFlow{ref: fmt.Sprintf("ha-w%d-%d", w, i), amount: amount,
					capture: amount - int64(i%3)*10, refund: amount / 4, serial: vs[w].Serial}
				load.mu.Lock()
				load.flows[f.ref] = f
				load.mu.Unlock()
				start := time.Now()
				ok := crashFlowRun(s, load, f, vs[w], sk, pk)
				payMu.Lock()
				payWrites = append(payWrites, drillWrite{start, time.Now(), ok})
				if ok {
					payDone++
				}
				payMu.Unlock()
				if !ok {
					// A refused or unanswered step: its flow stops there
					// (settled after the drill); pause, as a client would.
					time.Sleep(200 * time.Millisecond)
				}
			}
		})
	}
	for w := range ledgerWorkers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var ts []map[string]any
				for j := range 10 {
					ts = append(ts, map[string]any{"id": fmt.Sprintf("ha-w%d-%d-%d", w, i, j), "debit_account_id": "src",
						"credit_account_id": "dst", "amount": int64(1 + (i*10+j)%97), "currency": "EUR"})
				}
				if !led.postTransfers(s, sk, ts) {
					time.Sleep(200 * time.Millisecond)
				}
			}
		})
	}
	ackedCounts := func() (payments, transfers int) {
		payMu.Lock()
		payments = payDone
		payMu.Unlock()
		led.mu.Lock()
		transfers = len(led.acked)
		led.mu.Unlock()
		return
	}
	c.waitFor("load acknowledged before the kill", 60*time.Second, func() bool {
		p, tr := ackedCounts()
		return p >= 20 && tr >= 500
	})
	payBefore, trBefore := ackedCounts()

	// The crash: node1's pg_autoctl, postgres and backends, at once.
	old, next := "node1", "node2"
	killed := time.Now()
	c.kill(old)
	<-c.exited[old]
	c.waitFor(next+" promoted", 120*time.Second, func() bool {
		st := c.states()[next]
		return st == "wait_primary/wait_primary" || st == "primary/primary" || st == "wait_primary/primary"
	})
	promoted := time.Since(killed)
	firstWrite := func() (time.Duration, bool) {
		var best time.Time
		led.mu.Lock()
		for _, w := range led.writes {
			if w.ok && w.start.After(killed) && (best.IsZero() || w.end.Before(best)) {
				best = w.end
			}
		}
		led.mu.Unlock()
		payMu.Lock()
		for _, w := range payWrites {
			if w.ok && w.start.After(killed) && (best.IsZero() || w.end.Before(best)) {
				best = w.end
			}
		}
		payMu.Unlock()
		return best.Sub(killed), !best.IsZero()
	}
	c.waitFor("writes through Kassa succeed again", 120*time.Second, func() bool { _, ok := firstWrite(); return ok })
	c.waitFor("more load acknowledged after the failover", 120*time.Second, func() bool {
		p, tr := ackedCounts()
		return p >= payBefore+10 && tr >= trBefore+300
	})
	close(stop)
	wg.Wait()
	recovered, _ := firstWrite()
	// A probe sent after /readyz's answers settle: the poller sees 200
	// again before it stops.
	c.waitFor("/readyz 200 after the failover", 30*time.Second, func() bool {
		probesMu.Lock()
		defer probesMu.Unlock()
		return len(probes) > 0 && probes[len(probes)-1].status == 200 && probes[len(probes)-1].at.After(killed.Add(recovered))
	})
	close(stopProbe)
	probeWG.Wait()
	var notReady time.Duration
	var firstNotReady, lastNotReady time.Time
	for i, p := range probes {
		if p.at.After(killed) && p.status != 200 {
			if firstNotReady.IsZero() {
				firstNotReady = p.at
			}
			lastNotReady = p.at
			if i > 0 {
				notReady += p.at.Sub(probes[i-1].at)
			}
		}
		if p.at.Before(killed) && p.status != 200 {
			t.Errorf("/readyz answered %d before the kill", p.status)
		}
	}
	if firstNotReady.IsZero() {
		t.Error("/readyz never answered 503 while no writable database was reachable")
	}
	t.Logf("TIMING kill->standby promoted (monitor) %v; kill->first acknowledged write sent after the kill %v",
		promoted.Round(time.Millisecond), recovered.Round(time.Millisecond))
	if !firstNotReady.IsZero() {
		t.Logf("TIMING /readyz not ready from %v to %v after the kill (%v of 100 ms probes)",
			firstNotReady.Sub(killed).Round(time.Millisecond), lastNotReady.Sub(killed).Round(time.Millisecond), notReady.Round(time.Millisecond))
	}
	var slowest time.Duration
	for _, w := range led.writes {
		if w.ok && w.start.Before(killed) && w.end.After(killed) {
			slowest = max(slowest, w.end.Sub(w.start))
		}
	}
	t.Logf("load: %d payments and %d transfers acknowledged before the kill, %d and %d in all; ledger answers %v; a batch in flight at the kill waited up to %v and was answered",
		payBefore, trBefore, func() int { p, _ := ackedCounts(); return p }(), len(led.acked), led.statuses, slowest.Round(time.Millisecond))

	// Settle every unknown outcome: payment steps with their keys,
	// transfers with their ids.
	var pending []*crashCall
	for _, call := range load.calls {
		if !call.acked {
			pending = append(pending, call)
		}
	}
	unknownCalls := len(pending)
	retried := 0
	deadline := time.Now().Add(90 * time.Second) // a key's lease lasts a minute
	for len(pending) > 0 {
		pending, retried = crashRetry(t, s, pending, retried)
		if len(pending) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d requests still hold their Idempotency-Key's lease", len(pending))
			}
			time.Sleep(time.Second)
		}
	}
	unknownTransfers := len(led.unknown)
	for len(led.unknown) > 0 {
		var ts []map[string]any
		for id, amount := range led.unknown {
			ts = append(ts, map[string]any{"id": id, "debit_account_id": "src", "credit_account_id": "dst", "amount": amount, "currency": "EUR"})
			if len(ts) == 100 {
				break
			}
		}
		if !led.postTransfers(s, sk, ts) {
			t.Fatalf("retrying %d transfers of unknown outcome failed", len(ts))
		}
	}
	t.Logf("unknown outcomes settled: %d payment requests (by Idempotency-Key), %d transfers (by id)", unknownCalls, unknownTransfers)

	// Nothing acknowledged is lost, nothing applied twice.
	crashReplay(t, s, load.calls)
	crashCheckMoney(t, s, sk, pk, vs, load.flows)
	var sum int64
	for id, amount := range led.acked {
		resp, body := s.request(t, "GET", "/v1/ledger/transfers/"+id, sk, nil)
		if resp.StatusCode != 200 {
			t.Errorf("acknowledged transfer %s: %d %v", id, resp.StatusCode, body)
			continue
		}
		sum += amount
	}
	resp, dst := s.request(t, "GET", "/v1/ledger/accounts/dst", sk, nil)
	mustStatus(t, resp, dst, 200)
	if got := num(dst["credits_posted"]); got != sum {
		t.Errorf("dst credits_posted %d, want %d, the sum of the %d transfers", got, sum, len(led.acked))
	}
	// Restore redundancy as the runbook says: the old primary's keeper
	// starts again, rewinds and follows the new primary, which is
	// synchronous again; Kassa writes through the pair.
	rejoin := time.Now()
	c.run(old, "run", "--pgdata", filepath.Join(c.base, old))
	c.waitFor(old+" a secondary again", 120*time.Second, func() bool {
		st := c.states()
		return st[old] == "secondary/secondary" && st[next] == "primary/primary"
	})
	c.waitFor("a synchronous standby again", 30*time.Second, func() bool {
		n, _ := c.query(c.ports[next], "appdb", "SELECT count(*)::text FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')")
		return n == "1"
	})
	t.Logf("TIMING old primary's keeper restarted -> %s secondary, %s primary with it as synchronous standby: %v",
		old, next, time.Since(rejoin).Round(time.Millisecond))
	ts := []map[string]any{{"id": "ha-after-rejoin", "debit_account_id": "src", "credit_account_id": "dst", "amount": int64(5), "currency": "EUR"}}
	if !led.postTransfers(s, sk, ts) {
		t.Errorf("a transfer after the old primary rejoined was not acknowledged: %v", led.statuses)
	}
	if got := scrapeValue(t, s, "kassa_database_failover_errors_total"); got <= 0 {
		t.Errorf("kassa_database_failover_errors_total = %v after a failover, want > 0", got)
	} else {
		t.Logf("kassa_database_failover_errors_total = %v", got)
	}
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("stop: %v", err)
	}
	crashAudit(t, b, "after the failover")
	for _, v := range vs {
		if strings.Contains(s.stderr.String(), v.PIN) || strings.Contains(s.stdout.String(), v.PIN) {
			t.Error("a voucher PIN is in the server log")
		}
	}
	t.Logf("states at the end: %v", c.states())
}

// scrapeValue reads one unlabelled sample from the server's /metrics.
func scrapeValue(t *testing.T, s *server, name string) float64 {
	t.Helper()
	resp, err := s.client.Get(s.metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("%s is not in /metrics", name)
	return 0
}
