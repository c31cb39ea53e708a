package pgtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/internal/pgcluster"
)

// PgBouncer starts a PgBouncer in transaction mode (as Supabase's pooler on
// port 6543 runs) on loopback in front of the server of the database at
// dbURL, for as long as t runs, and returns dbURL through it. Each database
// gets poolSize server connections. It fails t under CI=true, and skips it
// otherwise, when PgBouncer is not installed (Debian's pgbouncer).
func PgBouncer(t testing.TB, dbURL string, poolSize int) string {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/pgbouncer"); statErr != nil {
			unavailableTool(t, errors.New("pgbouncer is not installed"), "apt-get install -y pgbouncer")
		}
		bin = "/usr/sbin/pgbouncer"
	}
	u, err := url.Parse(dbURL)
	if err != nil || u.User == nil {
		t.Fatalf("pgtest: PgBouncer needs a URL with a user and password")
	}
	socketDir := u.Query().Get("host")
	if socketDir == "" {
		t.Fatalf("pgtest: PgBouncer fronts the throwaway cluster's Unix socket only")
	}
	pw, _ := u.User.Password()
	// Not t.TempDir(): its parent is closed to the postgres OS user.
	dir, err := os.MkdirTemp("", "pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cred, err := pgcluster.Credential()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	files := map[string]string{
		"userlist.txt": fmt.Sprintf("%q %q\n", u.User.Username(), pw),
		"pgbouncer.ini": fmt.Sprintf(`[databases]
* = host=%s port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = scram-sha-256
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = 200
ignore_startup_parameters = extra_float_digits
logfile = %s
pidfile = %s
`, socketDir, port, filepath.Join(dir, "userlist.txt"), poolSize, filepath.Join(dir, "pgbouncer.log"), filepath.Join(dir, "pgbouncer.pid")),
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if cred != nil {
		for _, p := range []string{dir, filepath.Join(dir, "userlist.txt"), filepath.Join(dir, "pgbouncer.ini")} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	out, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("pgtest: start pgbouncer: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			stderr, _ := os.ReadFile(out.Name())
			t.Fatalf("pgtest: pgbouncer exited: %s %s", pgcluster.LastLines(log, 5), pgcluster.LastLines(stderr, 5))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: pgbouncer does not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	through := *u
	through.Host = addr
	q := through.Query()
	q.Del("host")
	q.Set("sslmode", "disable")
	through.RawQuery = q.Encode()
	return through.String()
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
