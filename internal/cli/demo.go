package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"go.uber.org/fx"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/app/storefx"
	"github.com/hlf/dynamicsportal/internal/pgcluster"
	"github.com/hlf/dynamicsportal/ports"
)

func demoFlags(fs *flag.FlagSet, e *env) {
	syncFlags(fs, e)
	fs.BoolVar(&e.demoStore, "store", false, "sync into a throwaway PostgreSQL shaped like a Supabase project (needs PostgreSQL's server binaries), "+
		"then print what a mentor, a coordinator and a chapter admin see; the database is removed at the end")
}

// The demo's people: backend user ids for the three identities.
const (
	demoMentorUser      = "d0000000-0000-4000-8000-000000000001"
	demoCoordinatorUser = "d0000000-0000-4000-8000-000000000002"
	demoChapterAdmin    = "d0000000-0000-4000-8000-000000000003"
)

// demoView is one identity's view of the status store, a line of the
// demo's output.
type demoView struct {
	Identity       string                         `json:"identity"`
	UserID         string                         `json:"userId"`
	Sees           int                            `json:"sees"`
	Certifications []postgres.CertificationStatus `json:"certifications"`
}

// demoIntoStore starts a throwaway Supabase-shaped cluster, migrates it,
// runs the demo's pass into it, prints what three identities see, and
// removes the cluster.
func (e *env) demoIntoStore(ctx context.Context, cfg app.Config, em *dynamicstest.Emulator, opts []fx.Option) error {
	cl, err := pgcluster.Start(pgcluster.Supabase)
	if errors.Is(err, pgcluster.ErrNoServer) {
		return usageError{"demo --store starts a throwaway database, and " + err.Error()}
	}
	if err != nil {
		return fmt.Errorf("%w: start a throwaway database: %w", ports.ErrDatabase, err)
	}
	defer cl.Stop()
	fmt.Fprintln(e.stderr, "demo: a throwaway PostgreSQL shaped like a Supabase project (roles anon, authenticated, service_role; owner postgres)")
	url, err := cl.CreateDatabase(ctx, "portal")
	if err != nil {
		return fmt.Errorf("%w: create the demo's database: %w", ports.ErrDatabase, err)
	}
	logger := app.NewLogger(cfg, e.stderr)
	store, err := e.openStore(ctx, url, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	applied := 0
	if err := migrateAll(ctx, store.Pool(), func(string) { applied++ }); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "demo: %d migrations applied; syncing the emulator into the status store\n", applied)
	if err := e.syncPass(ctx, cfg, append(opts, storefx.Supply(store))); err != nil {
		return err
	}
	people, err := demoPeople(em)
	if err != nil {
		return err
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"insert into portal.people values ($1, $2)", []any{demoMentorUser, people.mentor}},
		{"insert into portal.people values ($1, $2)", []any{demoCoordinatorUser, people.coordinator}},
		{"insert into portal.chapter_admins values ($1, $2)", []any{demoChapterAdmin, people.chapter}},
	} {
		if _, err := store.Pool().Exec(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("%w: demo: %w", ports.ErrDatabase, err)
		}
	}
	enc := json.NewEncoder(e.stdout)
	for _, id := range []struct{ name, user string }{
		{"mentor", demoMentorUser}, {"coordinator", demoCoordinatorUser}, {"chapter admin", demoChapterAdmin},
	} {
		rows, err := store.StatusesFor(ctx, id.user, postgres.Filter{})
		if err != nil {
			return err
		}
		if err := enc.Encode(demoView{Identity: id.name, UserID: id.user, Sees: len(rows), Certifications: rows}); err != nil {
			return err
		}
		logger.LogAttrs(ctx, slog.LevelInfo, "demo: what one identity sees, through public.portal_certification_statuses as authenticated",
			slog.String("identity", id.name), slog.Int("certifications", len(rows)))
	}
	return nil
}

// demoRoles are the portal contacts and chapter the demo's identities
// stand for.
type demoRoles struct{ mentor, coordinator, chapter string }

// demoPeople picks, from the emulator's data, a mentor with a current
// assignment and certifications, the coordinator with the most mentors on
// current assignments, and the chapter with the most.
func demoPeople(em *dynamicstest.Emulator) (demoRoles, error) {
	today := ports.DateOf(time.Now().UTC()) // the status function's today
	certified := map[string]bool{}
	for _, c := range em.Certifications() {
		certified[c.ContactID] = true
	}
	coordinators, chapters := map[string]int{}, map[string]int{}
	var r demoRoles
	for _, a := range em.Assignments() {
		if a.State != ports.StateActive || !a.StartDate.IsZero() && a.StartDate.After(today) || !a.EndDate.IsZero() && a.EndDate.Before(today) {
			continue
		}
		coordinators[a.CoordinatorID]++
		if a.ChapterID != "" {
			chapters[a.ChapterID]++
		}
		if r.mentor == "" && certified[a.MentorID] {
			r.mentor = a.MentorID
		}
	}
	r.coordinator, r.chapter = most(coordinators), most(chapters)
	if r.mentor == "" || r.coordinator == "" || r.chapter == "" {
		return r, errors.New("demo: the emulator's data has no current assignment to show")
	}
	return r, nil
}

// most returns the key with the largest count, the smallest key on a tie.
func most(counts map[string]int) string {
	best := ""
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if best == "" || counts[k] > counts[best] {
			best = k
		}
	}
	return best
}
