// Package pgcluster starts throwaway PostgreSQL clusters: a temporary
// directory, a Unix socket and no TCP port, password (SCRAM)
// authentication, and the postgres OS user when run as root (PostgreSQL
// refuses to run as root). A cluster has a Shape: plain, or shaped like a
// Supabase project. The tests (package pgtest) and `portalsync demo
// --store` use it.
package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Shape is how a cluster and its databases are set up: who owns a
// database, which roles and default privileges the server has.
type Shape string

const (
	// Plain is a bare PostgreSQL: the superuser postgres owns and
	// migrates the database, and the migrations create what they need.
	Plain Shape = "plain"
	// Supabase is a database shaped like a Supabase project's (see
	// supabase.go): the superuser supabase_admin, the project owner
	// postgres (not a superuser) who owns and migrates it, the roles anon,
	// authenticated, service_role and authenticator, Supabase's
	// auth.uid() in a schema owned by supabase_auth_admin, and the default
	// privileges that give anon, authenticated and service_role ALL on
	// everything postgres creates in public. Its cluster preloads pg_cron
	// when it is installed.
	Supabase Shape = "supabase"
)

// ErrNoServer is returned by Start when PostgreSQL's server binaries are
// not installed.
var ErrNoServer = errors.New("PostgreSQL's server binaries (initdb, postgres) are not installed: apt-get install -y postgresql-15")

// Cluster is a throwaway PostgreSQL cluster run by this process.
type Cluster struct {
	shape Shape
	dir   string
	cmd   *exec.Cmd
	done  chan struct{}
	url   string
}

// binDir finds the directory of initdb and postgres: on the PATH, or the
// newest /usr/lib/postgresql/<version>/bin (where Debian puts them).
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoServer
}

// Start starts a cluster of the given shape; Stop stops it and removes its
// directory. The cluster dies with this process. Its URL, as the
// superuser, reaches the maintenance database postgres.
func Start(shape Shape) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	// A short path: a Unix socket's path is limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{shape: shape, dir: dir}
	fail := func(err error) (*Cluster, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	cred, err := Credential()
	if err != nil {
		return fail(err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	password := randomHex(16)
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", superuser(shape), "--pwfile", pwfile,
		"--auth", "scram-sha-256", "--encoding", "UTF8", "--locale", "C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w: %s", err, LastLines(out, 5)))
	}
	os.Remove(pwfile)
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return fail(err)
	}
	defer logFile.Close()
	args := []string{"-D", data, "-k", dir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=64MB"}
	if shape == Supabase {
		args = append(args, supabaseServerArgs(bin)...)
	}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	// The server dies with the test binary, even when the binary is killed.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := c.cmd.Start(); err != nil {
		return fail(fmt.Errorf("start postgres: %w", err))
	}
	c.done = make(chan struct{})
	go c.wait()
	c.url = (&url.URL{Scheme: "postgres", User: url.UserPassword(superuser(shape), password), Path: "/postgres",
		RawQuery: url.Values{"host": {dir}, "sslmode": {"disable"}}.Encode()}).String()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.url)
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			if shape == Supabase {
				if err := setUpSupabaseServer(c.url); err != nil {
					c.stop()
					return nil, fmt.Errorf("shape the server like Supabase: %w", RedactErr(err, c.url))
				}
			}
			return c, nil
		}
		select {
		case <-c.done:
			out, _ := os.ReadFile(logFile.Name())
			return fail(fmt.Errorf("postgres exited: %s", LastLines(out, 5)))
		default:
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("postgres did not accept connections within 30s: %w", RedactErr(err, c.url))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Credential returns the postgres OS user's credential when running as
// root, and nil otherwise.
func Credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and there is no postgres OS user to run the server as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres OS user: bad uid %q or gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// wait reaps the server process when it exits. It runs as long as the
// cluster does: WaiterName names it for leak checks.
func (c *Cluster) wait() {
	_ = c.cmd.Wait()
	close(c.done)
}

// WaiterName is the name of the function of the goroutine that runs as
// long as a cluster does, for leak checks that must ignore it.
func WaiterName() string {
	return runtime.FuncForPC(reflect.ValueOf((*Cluster).wait).Pointer()).Name()
}

// URL returns the URL of the cluster's maintenance database, as its
// superuser. It carries the cluster's password: never print it.
func (c *Cluster) URL() string { return c.url }

// Stop shuts the server down fast (SIGINT), waits for it, and removes the
// cluster's directory.
func (c *Cluster) Stop() { c.stop() }

// stop shuts the server down fast (SIGINT), waits for it, and removes the
// cluster's directory.
func (c *Cluster) stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	os.RemoveAll(c.dir)
}

// LastLines returns the last n lines of b on one line, for error messages.
func LastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// WithDatabase returns u with its database name replaced by name.
func WithDatabase(u, name string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + name
	return p.String()
}

// Password returns the password of a URL, or "" (for leak scans).
func Password(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return ""
	}
	pw, _ := p.User.Password()
	return pw
}

// RedactErr keeps a server URL's password out of an error message.
func RedactErr(err error, u string) error {
	if pw := Password(u); pw != "" && strings.Contains(err.Error(), pw) {
		return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
	}
	return err
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateDatabase creates the database name, set up for the cluster's shape
// (see SetUpDatabase), and returns its URL as its owner.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		return "", RedactErr(err, c.url)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize()+OwnerClause(c.shape)); err != nil {
		return "", err
	}
	admin := WithDatabase(c.url, name)
	if err := SetUpDatabase(ctx, c.shape, admin); err != nil {
		return "", RedactErr(err, c.url)
	}
	return OwnerURL(c.shape, admin), nil
}
