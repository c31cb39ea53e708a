package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hlf/dynamicsportal/internal/pgcluster"
)

// Superuser returns the URL of the same database as u, a database of the
// given shape, as its server's superuser.
func Superuser(shape Shape, u string) string { return pgcluster.Superuser(shape, u) }

// NeedCron fails t under CI=true, and skips it otherwise, unless the
// Supabase shape's server runs pg_cron (Debian's postgresql-15-cron).
func NeedCron(t testing.TB) {
	t.Helper()
	admin := serverURL(t, Supabase)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", pgcluster.RedactErr(err, admin))
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, "select exists (select from pg_extension where extname = 'pg_cron')").Scan(&ok); err != nil {
		t.Fatal(err)
	}
	if !ok {
		unavailableTool(t, errors.New("pg_cron is not installed"), "apt-get install -y postgresql-15-cron")
	}
}

// unavailableTool fails t under CI=true, and skips it otherwise, saying
// how to install what is missing.
func unavailableTool(t testing.TB, err error, install string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v (CI=true, so this fails; install it: %s)", err, install)
	}
	t.Skipf("%v; to run this test, %s", err, install)
}

// NeedCommand returns the path of the command name, and fails t under
// CI=true, or skips it otherwise, when it is not installed, saying how to
// install it.
func NeedCommand(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		unavailableTool(t, fmt.Errorf("%s is not installed", name), install)
	}
	return p
}
