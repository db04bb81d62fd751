package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// serverUser runs the cluster when the tests run as root, since initdb
	// and postgres refuse to run as root.
	serverUser = "kassapg"
	// dirPrefix names the per-binary directory under os.TempDir.
	dirPrefix = "kassa-pgtest-"

	startAttemptCountMax = 3 // A free port may be taken before postgres binds it.
	startTimeout         = 60 * time.Second
	stopTimeout          = 30 * time.Second
	logTailBytesMax      = 2048
	staleAge             = 10 * time.Minute
)

// cluster is a running throwaway server. base holds data/ (the cluster),
// postgres.log and owner.pid (this process, for sweepStale).
type cluster struct {
	base   string
	port   int
	cmd    *exec.Cmd
	extra  []string      // more "name=value" server settings, after the defaults
	exited chan struct{} // closed when postgres has exited
	err    error         // postgres's exit status; read after exited is closed
}

func (c *cluster) url(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// startCluster runs initdb in a new directory and starts postgres on it,
// with the server settings ("name=value") of extra over the defaults.
func startCluster(extra ...string) (*cluster, error) {
	bin := os.Getenv(EnvBinDir)
	if bin == "" {
		bin = BinDir
	}
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return nil, fmt.Errorf("%w: %w", errNoBinaries, err)
		}
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	sweepStale()

	base, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	c := &cluster{base: base, extra: extra}
	if err := c.init(bin, cred); err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		err = c.start(bin, cred)
		if err == nil {
			return c, nil
		}
		if attempt == startAttemptCountMax {
			os.RemoveAll(base)
			return nil, fmt.Errorf("starting postgres (%d attempts): %w", attempt, err)
		}
	}
}

// init prepares the directory and runs initdb as the server user.
func (c *cluster) init(bin string, cred *syscall.Credential) error {
	owner := []byte(strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(filepath.Join(c.base, "owner.pid"), owner, 0o644); err != nil {
		return err
	}
	if cred != nil {
		if err := os.Chown(c.base, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	// --no-sync only skips flushing initdb's own files: the server below runs
	// with fsync on, which is what durability measurements depend on.
	cmd := exec.Command(filepath.Join(bin, "initdb"),
		"--pgdata", filepath.Join(c.base, "data"), "--username", "postgres",
		"--auth", "trust", "--encoding", "UTF8", "--locale", "C",
		"--no-sync", "--no-instructions")
	cmd.Dir = c.base
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, tail(out))
	}
	return nil
}

// start runs postgres on a free port and waits until it accepts connections.
func (c *cluster) start(bin string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logPath := filepath.Join(c.base, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // The child holds its own copy.

	c.port = port
	c.exited = make(chan struct{})
	args := []string{"-D", filepath.Join(c.base, "data"),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=",
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "full_page_writes=on",
		"-c", "max_connections=200",
		"-c", "shared_buffers=64MB",
		"-c", "max_wal_size=256MB",
		"-c", "timezone=UTC",
		"-c", "log_min_messages=warning",
		"-c", "logging_collector=off",
	}
	for _, setting := range c.extra {
		args = append(args, "-c", setting) // a later -c wins
	}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	c.cmd.Dir = c.base
	c.cmd.Stdout = logFile
	c.cmd.Stderr = logFile
	// SIGINT is PostgreSQL's fast shutdown. The kernel sends it when the
	// thread that forked postgres dies, so the server cannot outlive this
	// process; Setpgid keeps a terminal's ^C from reaching it first.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT, Setpgid: true}

	started := make(chan error, 1)
	go c.run(started)
	if err := <-started; err != nil {
		return err
	}
	if err := c.waitReady(); err != nil {
		c.kill()
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w\npostgres log:\n%s", err, tail(log))
	}
	return nil
}

// run starts postgres and waits for it on a locked OS thread: the
// parent-death signal fires when the forking thread exits, so that thread
// must live exactly as long as the server.
func (c *cluster) run(started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := c.cmd.Start(); err != nil {
		started <- fmt.Errorf("postgres: %w", err)
		return
	}
	started <- nil
	c.err = c.cmd.Wait()
	close(c.exited)
}

func (c *cluster) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		attemptCtx, attemptCancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(attemptCtx, c.url("postgres"))
		attemptCancel()
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited: %v", c.err)
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready after %v: %w", startTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop shuts the server down, escalating from fast shutdown to a kill, and
// removes the cluster's directory.
func (c *cluster) stop() error {
	var errs []error
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGKILL} {
		c.cmd.Process.Signal(sig) // Fails only if postgres has exited already.
		select {
		case <-c.exited:
			errs = append(errs, os.RemoveAll(c.base))
			return errors.Join(errs...)
		case <-time.After(stopTimeout):
			errs = append(errs, fmt.Errorf("postgres ignored %v for %v", sig, stopTimeout))
		}
	}
	return errors.Join(errs...)
}

func (c *cluster) kill() {
	c.cmd.Process.Kill()
	<-c.exited
}

// serverCredential returns the identity to run initdb and postgres as: nil
// (this process's) unless running as root, then serverUser's, created if absent.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		// Another test binary may be adding the user at the same moment, so
		// a failing useradd is judged by the lookup after it.
		out, addErr := exec.Command("useradd", "-m", serverUser).CombinedOutput()
		u, err = user.Lookup(serverUser)
		if err != nil {
			return nil, fmt.Errorf("running as root, and user %s cannot be created (useradd: %v %s): %w",
				serverUser, addErr, bytes.TrimSpace(out), err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// sweepStale removes directories left by test binaries that died before
// Main's cleanup. A directory whose owner is alive is left alone. A server
// still running in it is stopped only if its command line names that
// directory, so a reused PID is never signalled.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		owner := readPID(filepath.Join(dir, "owner.pid"))
		if owner == 0 && !olderThan(dir, staleAge) {
			continue // Just made by a binary that has yet to write owner.pid.
		}
		if alive(owner) {
			continue
		}
		data := filepath.Join(dir, "data")
		if pid := readPID(filepath.Join(data, "postmaster.pid")); alive(pid) {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if !bytes.Contains(cmdline, []byte(data)) {
				continue
			}
			syscall.Kill(pid, syscall.SIGQUIT)
			continue // Removed by a later sweep, once it has exited.
		}
		os.RemoveAll(dir)
	}
}

// readPID returns the number on the first line of a PID file, or 0.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func olderThan(path string, age time.Duration) bool {
	fi, err := os.Stat(path)
	return err == nil && time.Since(fi.ModTime()) > age
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte) []byte {
	if len(b) > logTailBytesMax {
		return b[len(b)-logTailBytesMax:]
	}
	return b
}
