package postgres

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlf/dynamicsportal/ports"
)

// A database URL is a way to the owner's password. Over a network, an
// on-path listener can refuse TLS and ask for the password in clear, and
// pgx's default (sslmode=prefer) sends it. So parseConfig holds a URL whose
// hosts are not all local (a Unix socket or loopback) to two rules:
//   - the server's certificate is verified: sslmode=verify-full, or
//     verify-ca with sslrootcert; anything else is a config error, unless
//     Options.AllowInsecure, which Open warns about;
//   - the password is exchanged by SCRAM only (require_auth=scram-sha-256,
//     with channel binding when the server offers it, pgx's default),
//     unless the URL or PGREQUIREAUTH names the methods itself.

// parseConfig parses a database URL (postgres://… or key=value) into a
// pool configuration held to the rules above. It returns a warning to log
// when AllowInsecure let a URL through that the rules would refuse. Errors
// wrap ports.ErrInvalidConfig and never hold the password.
func parseConfig(raw string, opts Options) (_ *pgxpool.Config, warning string, _ error) {
	pw := passwordOf(raw)
	cfg, err := pgxpool.ParseConfig(raw)
	if err != nil {
		// pgx quotes the URL with its own redaction, which cuts a password
		// holding "@" at its first "@": quote it with ours instead.
		msg := err.Error()
		if i, j := strings.IndexByte(msg, '`'), strings.LastIndexByte(msg, '`'); i >= 0 && j > i {
			msg = msg[:i+1] + Redact(raw) + msg[j:]
		}
		return nil, "", fmt.Errorf("%w: database URL: %s", ports.ErrInvalidConfig, scrub(errors.New(msg), pw).Error())
	}
	remote := ""
	for _, h := range hosts(cfg) {
		if !isLocal(h) {
			remote = h
			break
		}
	}
	if remote == "" {
		return cfg, "", nil
	}
	if setting(raw, "require_auth", "PGREQUIREAUTH") == "" {
		cfg.ConnConfig.RequireAuth = "scram-sha-256"
	}
	mode := setting(raw, "sslmode", "PGSSLMODE")
	if mode == "verify-full" || mode == "verify-ca" && setting(raw, "sslrootcert", "PGSSLROOTCERT") != "" {
		return cfg, "", nil
	}
	shown := mode
	if shown == "" {
		shown = "unset, so prefer"
	}
	problem := fmt.Sprintf("database URL: host %s is reached over the network, and sslmode (%s) does not verify its certificate, "+
		"so a listener on the way could pose as the database", remote, shown)
	if opts.AllowInsecure {
		return cfg, problem, nil
	}
	return nil, "", fmt.Errorf("%w: %s: add sslmode=verify-full to the URL (with sslrootcert=FILE for a server whose CA is not "+
		"the system's, such as Supabase's certificate from the dashboard), or allow it explicitly "+
		"(portalsync --database-insecure, Options.AllowInsecure)", ports.ErrInvalidConfig, problem)
}

// hosts returns every host a configuration may connect to.
func hosts(cfg *pgxpool.Config) []string {
	out := []string{cfg.ConnConfig.Host}
	for _, f := range cfg.ConnConfig.Fallbacks {
		out = append(out, f.Host)
	}
	return out
}

// isLocal reports whether host is a Unix socket directory or a loopback
// name or address.
func isLocal(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// setting returns a connection setting as the URL (query or key=value form)
// gives it, or else from its environment variable, as pgx reads them.
func setting(raw, key, env string) string {
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		if u, err := url.Parse(raw); err == nil {
			if v, ok := u.Query()[key]; ok && len(v) > 0 {
				return v[len(v)-1]
			}
		}
	} else {
		for _, f := range strings.Fields(raw) {
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				return strings.Trim(v, "'")
			}
		}
	}
	return os.Getenv(env)
}
