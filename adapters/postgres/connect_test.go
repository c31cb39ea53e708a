package postgres

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlf/dynamicsportal/ports"
)

const hostilePassword = "Owner-Pa55word"

func TestParseConfigHoldsNetworkHostsToVerifiedTLS(t *testing.T) {
	for _, tc := range []struct {
		name, url   string
		insecure    bool
		wantErr     bool
		requireAuth string
	}{
		{name: "unix socket", url: "postgres://u:" + hostilePassword + "@/db?host=/run/postgresql"},
		{name: "loopback name", url: "postgres://u:" + hostilePassword + "@localhost/db"},
		{name: "loopback address", url: "postgres://u:" + hostilePassword + "@127.0.0.1:5432/db?sslmode=disable"},
		{name: "IPv6 loopback", url: "postgres://u:" + hostilePassword + "@[::1]:5432/db"},
		{name: "no sslmode", url: "postgres://u:" + hostilePassword + "@db.example.test:5432/db", wantErr: true},
		{name: "prefer", url: "postgres://u:" + hostilePassword + "@db.example.test/db?sslmode=prefer", wantErr: true},
		{name: "require", url: "postgres://u:" + hostilePassword + "@db.example.test/db?sslmode=require", wantErr: true},
		{name: "verify-ca without a root", url: "postgres://u:" + hostilePassword + "@db.example.test/db?sslmode=verify-ca", wantErr: true},
		{name: "a remote fallback host", url: "postgres://u:" + hostilePassword + "@localhost,db.example.test/db", wantErr: true},
		{name: "verify-full", url: "postgres://u:" + hostilePassword + "@db.example.test/db?sslmode=verify-full", requireAuth: "scram-sha-256"},
		{name: "key=value verify-full", url: "host=db.example.test user=u password=" + hostilePassword + " sslmode=verify-full", requireAuth: "scram-sha-256"},
		{name: "key=value prefer", url: "host=db.example.test user=u password=" + hostilePassword + " sslmode=prefer", wantErr: true},
		{name: "the URL names the methods", url: "postgres://u:" + hostilePassword + "@db.example.test/db?sslmode=verify-full&require_auth=password", requireAuth: "password"},
		{name: "opted out", url: "postgres://u:" + hostilePassword + "@db.example.test/db", insecure: true, requireAuth: "scram-sha-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warning, err := parseConfig(tc.url, Options{AllowInsecure: tc.insecure})
			if tc.wantErr {
				if !errors.Is(err, ports.ErrInvalidConfig) || !strings.Contains(err.Error(), "sslmode=verify-full") || !strings.Contains(err.Error(), "--database-insecure") {
					t.Fatalf("err = %v, want a config error naming sslmode=verify-full and the opt-out", err)
				}
				if strings.Contains(err.Error(), hostilePassword) {
					t.Errorf("the error holds the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.ConnConfig.RequireAuth; got != tc.requireAuth {
				t.Errorf("require_auth %q, want %q", got, tc.requireAuth)
			}
			if (warning != "") != tc.insecure || strings.Contains(warning, hostilePassword) {
				t.Errorf("warning %q (opted out: %v)", warning, tc.insecure)
			}
		})
	}
}

func TestParseConfigReadsTheEnvironmentAsPgxDoes(t *testing.T) {
	t.Setenv("PGSSLMODE", "verify-full")
	if _, _, err := parseConfig("postgres://u:p@db.example.test/db", Options{}); err != nil {
		t.Errorf("PGSSLMODE=verify-full: %v", err)
	}
	t.Setenv("PGSSLMODE", "require")
	if _, _, err := parseConfig("postgres://u:p@db.example.test/db", Options{}); !errors.Is(err, ports.ErrInvalidConfig) {
		t.Errorf("PGSSLMODE=require: %v, want a config error", err)
	}
}

// Open refuses an unverified network host before any connection: the name
// does not resolve, so a connection attempt would be a databaseError.
func TestOpenRefusesAnUnverifiedHostBeforeConnecting(t *testing.T) {
	_, err := Open(t.Context(), "postgres://u:"+hostilePassword+"@db.example.test/db", nil)
	if !errors.Is(err, ports.ErrInvalidConfig) || errors.Is(err, ports.ErrDatabase) {
		t.Errorf("Open = %v, want a config error and no connection", err)
	}
}

// hostileListener plays an on-path attacker: it refuses TLS and asks for
// the password in clear. It records each password it is sent.
type hostileListener struct {
	ln   net.Listener
	mu   sync.Mutex
	got  []string
	conn int
}

func newHostileListener(t *testing.T) *hostileListener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostileListener{ln: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return h
}

func (h *hostileListener) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	h.mu.Lock()
	h.conn++
	h.mu.Unlock()
	be := pgproto3.NewBackend(c, c)
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return
		}
		switch msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := c.Write([]byte("N")); err != nil {
				return
			}
			continue
		}
		break
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if err := be.Flush(); err != nil {
		return
	}
	be.SetAuthType(pgproto3.AuthTypeCleartextPassword)
	msg, err := be.Receive()
	if err != nil {
		return
	}
	if p, ok := msg.(*pgproto3.PasswordMessage); ok {
		h.mu.Lock()
		h.got = append(h.got, p.Password)
		h.mu.Unlock()
	}
}

func (h *hostileListener) seen() (conns int, passwords []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conn, append([]string(nil), h.got...)
}

// ping connects the configuration to the listener, whatever its host says.
func (h *hostileListener) ping(t *testing.T, cfg *pgxpool.Config) error {
	t.Helper()
	addr := h.ln.Addr().(*net.TCPAddr)
	cfg.ConnConfig.LookupFunc = func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }
	cfg.ConnConfig.Port = uint16(addr.Port)
	for _, f := range cfg.ConnConfig.Fallbacks {
		f.Port = uint16(addr.Port)
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return pool.Ping(ctx)
}

// The hostile listener never gets the password: not with the explicit
// opt-out (SCRAM is pinned, so a request for a cleartext password is
// refused), and not with verify-full (no TLS, no connection). pgx's own
// default, without the pin, sends it: the listener can tell.
func TestAHostileListenerNeverGetsThePassword(t *testing.T) {
	url := "postgres://owner:" + hostilePassword + "@db.example.test:" + strconv.Itoa(5432) + "/postgres"
	for _, tc := range []struct {
		name   string
		url    string
		opts   Options
		unpin  bool
		leaked bool
	}{
		{name: "opted out of verification", url: url, opts: Options{AllowInsecure: true}},
		{name: "verify-full", url: url + "?sslmode=verify-full"},
		{name: "pgx's default without the pin (control)", url: url, opts: Options{AllowInsecure: true}, unpin: true, leaked: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostileListener(t)
			cfg, _, err := parseConfig(tc.url, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.unpin {
				cfg.ConnConfig.RequireAuth = ""
			}
			if err := h.ping(t, cfg); err == nil {
				t.Fatal("connected to the hostile listener")
			}
			conns, passwords := h.seen()
			if conns == 0 {
				t.Fatal("the listener saw no connection: the test proves nothing")
			}
			if leaked := len(passwords) > 0; leaked != tc.leaked {
				t.Errorf("the listener got passwords %q; want leaked=%v", passwords, tc.leaked)
			}
		})
	}
}
