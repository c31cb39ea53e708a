package postgres

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// StatusesFor sets both settings auth.uid() reads, transaction-locally: a
// session-level request.jwt.claim.sub that other code left on the pooled
// connection chooses nobody, and once StatusesFor returns the connection
// holds no claims and no role. One connection in the pool makes sure the
// leftover and the call meet.
func TestStatusesForIgnoresAndLeavesNoSessionClaims(t *testing.T) {
	u := database(t)
	conn := connect(t, u)
	seedWorld(t, conn)
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := New(pool, Options{})
	// Another user's subject, left at session level on the only connection.
	if _, err := s.Pool().Exec(t.Context(), "select set_config('request.jwt.claim.sub', $1, false)", uuidOf("uC1")); err != nil {
		t.Fatal(err)
	}
	got, err := s.StatusesFor(t.Context(), uuidOf("uM1"), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range got {
		names = append(names, nameOf(st.CertificationID))
	}
	if want := []string{"c12", "c11"}; !slices.Equal(names, want) {
		t.Errorf("uM1 with uC1's claim.sub left on the connection sees %v, want their own %v", names, want)
	}

	// After the call: what the connection holds at session level.
	if _, err := s.Pool().Exec(t.Context(), "reset all"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StatusesFor(t.Context(), uuidOf("uM1"), Filter{}); err != nil {
		t.Fatal(err)
	}
	var sub, claims, role string
	if err := s.Pool().QueryRow(t.Context(), `select coalesce(current_setting('request.jwt.claim.sub', true), ''),
		coalesce(current_setting('request.jwt.claims', true), ''), current_user::text`).Scan(&sub, &claims, &role); err != nil {
		t.Fatal(err)
	}
	if sub != "" || claims != "" || role == "authenticated" {
		t.Errorf("after StatusesFor the connection holds claim.sub %q, claims %q, role %s; want no claims and the owner's role", sub, claims, role)
	}
}
