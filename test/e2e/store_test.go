package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/internal/pgtest"
	"github.com/hlf/dynamicsportal/ports"
)

// emptyDB is a database with nothing in it: portalsync migrate fills it.
var emptyDB = pgtest.Template{Name: "empty", Prepare: func(context.Context, string) error { return nil }}

// current reports whether an assignment grants access on today.
func current(a ports.Assignment, today ports.Date) bool {
	return a.State == ports.StateActive && (a.StartDate.IsZero() || !a.StartDate.After(today)) &&
		(a.EndDate.IsZero() || !a.EndDate.Before(today))
}

// visible lists, in the function's order, the ids of the certifications
// of the given mentors, with their statuses as the portal holds them after
// the pass.
func visible(certs []ports.Certification, mentors map[string]bool) []string {
	var out []ports.Certification
	for _, c := range certs {
		if mentors[c.ContactID] {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b ports.Certification) int {
		switch {
		case a.ExpiresOn.IsZero() != b.ExpiresOn.IsZero():
			if a.ExpiresOn.IsZero() {
				return 1
			}
			return -1
		case a.ExpiresOn != b.ExpiresOn:
			if a.ExpiresOn.Before(b.ExpiresOn) {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	ids := make([]string, len(out))
	for i, c := range out {
		ids[i] = c.ID + " " + c.SyncStatus.String()
	}
	return ids
}

// statusLines turns the statuses command's output into "id status" lines.
func statusLines(t *testing.T, stdout string) []string {
	t.Helper()
	var out []string
	dec := json.NewDecoder(strings.NewReader(stdout))
	for dec.More() {
		var s postgres.CertificationStatus
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("statuses output: %v\n%s", err, stdout)
		}
		out = append(out, s.CertificationID+" "+s.Status)
	}
	return out
}

// The status store end to end, as an operator runs it: migrate, sync the
// emulator's certifications and assignments into the database, ask what a
// coordinator, a chapter admin, a mentor and a stranger see; then an
// assignment ends in the portal, the next sync mirrors it, and the
// coordinator no longer sees that mentor.
//
// It runs on a plain database and on one shaped like a Supabase project,
// migrated by its non-superuser owner.
func TestStatusStoreEndToEnd(t *testing.T) {
	for _, shape := range pgtest.Shapes {
		t.Run(string(shape), func(t *testing.T) { statusStoreEndToEnd(t, shape) })
	}
}

func statusStoreEndToEnd(t *testing.T, shape pgtest.Shape) {
	e := startEmulator(t, func(o *dynamicstest.Options) { o.Certifications, o.Mentors, o.Seed = 120, 40, 7 })
	dbURL := pgtest.ShapedDatabase(t, shape, emptyDB)
	env := append(binaryEnv(e), "DATABASE_URL="+dbURL)
	password := pgtest.Password(dbURL)
	checkNoPassword := func(what string, r result) {
		t.Helper()
		if password != "" && strings.Contains(r.stdout+r.stderr, password) {
			t.Errorf("%s: the output holds the database password", what)
		}
		scanRun(t, e, r)
	}

	r := runBinary(t, env, "migrate")
	r.wantExit(t, 0, "")
	checkNoPassword("migrate", r)
	if !strings.HasPrefix(r.stdout, "portal 00001_") {
		t.Errorf("migrate printed %q", r.stdout)
	}

	r = runBinary(t, env, "sync", "--page-size", "25")
	r.wantExit(t, 0, "")
	checkNoPassword("sync", r)
	rep := parseReport(t, r.stdout)
	assignments := e.Assignments()
	if !rep.Complete || rep.Read != 120 || rep.Assignments != len(assignments) {
		t.Fatalf("report: complete %v, read %d, assignments %d; want a complete pass of 120 and %d", rep.Complete, rep.Read, rep.Assignments, len(assignments))
	}

	// Pick, from the portal's data, a coordinator who shares a mentor with
	// another coordinator, and a chapter with current assignments.
	today := ports.DateOf(time.Now().UTC())
	mentorsOf := map[string]map[string]bool{}    // coordinator → mentors
	chapterOf := map[string]map[string]bool{}    // chapter → mentors
	coordinators := map[string]map[string]bool{} // mentor → coordinators
	for _, a := range assignments {
		if !current(a, today) {
			continue
		}
		add := func(m map[string]map[string]bool, k, v string) {
			if m[k] == nil {
				m[k] = map[string]bool{}
			}
			m[k][v] = true
		}
		add(mentorsOf, a.CoordinatorID, a.MentorID)
		add(coordinators, a.MentorID, a.CoordinatorID)
		if a.ChapterID != "" {
			add(chapterOf, a.ChapterID, a.MentorID)
		}
	}
	var coordinator, shared string
	for _, m := range slices.Sorted(maps.Keys(coordinators)) {
		if len(coordinators[m]) >= 2 {
			shared = m
			coordinator = slices.Sorted(maps.Keys(coordinators[m]))[0]
			break
		}
	}
	if coordinator == "" {
		t.Fatal("the emulator's data has no mentor with two current coordinators")
	}
	var chapter string
	for k, v := range chapterOf {
		if len(v) >= 2 && (chapter == "" || k < chapter) {
			chapter = k
		}
	}
	if chapter == "" {
		t.Fatal("the emulator's data has no chapter with two mentors")
	}

	const (
		coordUser   = "a0000000-0000-4000-8000-000000000001"
		adminUser   = "a0000000-0000-4000-8000-000000000002"
		mentorUser  = "a0000000-0000-4000-8000-000000000003"
		strangerUsr = "a0000000-0000-4000-8000-000000000004"
	)
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"insert into portal.people values ($1, $2)", []any{coordUser, coordinator}},
		{"insert into portal.people values ($1, $2)", []any{mentorUser, shared}},
		{"insert into portal.people values ($1, gen_random_uuid())", []any{strangerUsr}},
		{"insert into portal.chapter_admins values ($1, $2)", []any{adminUser, chapter}},
	} {
		if _, err := conn.Exec(t.Context(), q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}

	certs := e.Certifications()
	statuses := func(user string) []string {
		t.Helper()
		r := runBinary(t, env, "statuses", "--as", user)
		r.wantExit(t, 0, "")
		checkNoPassword("statuses", r)
		return statusLines(t, r.stdout)
	}
	for _, c := range []struct {
		who  string
		user string
		want []string
	}{
		{"coordinator", coordUser, visible(certs, mentorsOf[coordinator])},
		{"chapter admin", adminUser, visible(certs, chapterOf[chapter])},
		{"mentor", mentorUser, visible(certs, map[string]bool{shared: true})},
		{"stranger", strangerUsr, nil},
	} {
		got := statuses(c.user)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s sees %d rows %v\nwant %d rows %v", c.who, len(got), got, len(c.want), c.want)
		}
		if c.who != "stranger" && len(c.want) == 0 {
			t.Errorf("%s: the data gives nothing to see; the test proves little", c.who)
		}
	}

	// A mentor of the coordinator whose only current link to them is one
	// assignment: that assignment ends yesterday in the portal.
	var ended ports.Assignment
	for _, a := range assignments {
		if a.CoordinatorID != coordinator || !current(a, today) {
			continue
		}
		links := 0
		for _, b := range assignments {
			if b.MentorID == a.MentorID && b.CoordinatorID == coordinator && current(b, today) {
				links++
			}
		}
		if links == 1 && slices.ContainsFunc(certs, func(c ports.Certification) bool { return c.ContactID == a.MentorID }) {
			ended = a
			break
		}
	}
	if ended.ID == "" {
		t.Fatal("no assignment of the coordinator to end")
	}
	if !e.EndAssignment(ended.ID, today.AddDays(-1)) {
		t.Fatal("EndAssignment failed")
	}
	r = runBinary(t, env, "sync", "--page-size", "25")
	r.wantExit(t, 0, "")
	checkNoPassword("second sync", r)
	delete(mentorsOf[coordinator], ended.MentorID)
	got := statuses(coordUser)
	if want := visible(e.Certifications(), mentorsOf[coordinator]); !slices.Equal(got, want) {
		t.Errorf("after the assignment ended the coordinator sees %v\nwant %v", got, want)
	}
	for _, line := range got {
		for _, c := range certs {
			if c.ContactID == ended.MentorID && strings.HasPrefix(line, c.ID) {
				t.Errorf("the coordinator still sees %s of the mentor whose assignment ended", c.ID)
			}
		}
	}
}

// Behind a pooler in transaction mode (PgBouncer, as Supabase's pooler on
// port 6543 runs), with the query mode it needs: migrate, sync into the
// store, statuses and enqueue work, and print what they print on a direct
// connection.
func TestStatusStoreThroughAPooler(t *testing.T) {
	e := startEmulator(t, func(o *dynamicstest.Options) { o.Certifications, o.Mentors, o.Seed = 60, 20, 11 })
	direct := pgtest.ShapedDatabase(t, pgtest.Supabase, emptyDB)
	pooled := pgtest.PgBouncer(t, direct, 2) + "&default_query_exec_mode=exec"
	env := append(binaryEnv(e), "DATABASE_URL="+pooled)

	r := runBinary(t, env, "migrate")
	r.wantExit(t, 0, "")
	if !strings.HasPrefix(r.stdout, "portal 00001_") || !strings.Contains(r.stdout, "river ") {
		t.Errorf("migrate through the pooler printed %q", r.stdout)
	}
	r = runBinary(t, env, "sync", "--page-size", "25")
	r.wantExit(t, 0, "")
	if rep := parseReport(t, r.stdout); !rep.Complete || rep.Read != 60 {
		t.Fatalf("sync through the pooler: complete %v, read %d; want a complete pass of 60", rep.Complete, rep.Read)
	}
	const mentorUser = "a0000000-0000-4000-8000-000000000003"
	conn, err := pgx.Connect(t.Context(), direct)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "insert into portal.people values ($1, $2)", mentorUser, e.Certifications()[0].ContactID); err != nil {
		t.Fatal(err)
	}
	through := runBinary(t, env, "statuses", "--as", mentorUser)
	through.wantExit(t, 0, "")
	straight := runBinary(t, append(binaryEnv(e), "DATABASE_URL="+direct), "statuses", "--as", mentorUser)
	straight.wantExit(t, 0, "")
	if through.stdout != straight.stdout || through.stdout == "" {
		t.Errorf("statuses through the pooler:\n%s\ndirect:\n%s", through.stdout, straight.stdout)
	}
	for i, want := range []string{`"enqueued":true`, `"enqueued":false`} {
		r = runBinary(t, env, "enqueue")
		r.wantExit(t, 0, "")
		if !strings.Contains(r.stdout, want) {
			t.Errorf("enqueue %d through the pooler: %s, want %s", i+1, r.stdout, want)
		}
	}

	// migrate needs a second server connection while its lock's is held:
	// through a pooler with one, it refuses within seconds and names the
	// session connection to use.
	one := append(binaryEnv(e), "DATABASE_URL="+pgtest.PgBouncer(t, direct, 1)+"&default_query_exec_mode=exec")
	r = runBinary(t, one, "migrate")
	if last := lastLine(r.stderr); r.code != 1 || !strings.Contains(last, "run migrate on a session connection") {
		t.Errorf("migrate through a one-connection pooler: exit %d, last line %q; want a databaseError naming the session connection", r.code, last)
	}

	// Without the query mode, pgx's prepared statements meet on the
	// pooler's one server connection: the error says what to add.
	plain := append(binaryEnv(e), "DATABASE_URL="+pgtest.PgBouncer(t, direct, 1))
	failed := 0
	for range 3 {
		r := runBinary(t, plain, "statuses", "--as", mentorUser)
		if r.code == 0 {
			continue
		}
		failed++
		if last := lastLine(r.stderr); !strings.HasPrefix(last, "portalsync: databaseError: ") || !strings.Contains(last, "add default_query_exec_mode=exec") {
			t.Errorf("statuses through the pooler without the query mode: exit %d, last line %q; want a databaseError saying what to add", r.code, last)
		}
	}
	if failed == 0 {
		t.Error("three runs through a one-connection pooler without the query mode all worked: the test proves nothing")
	}
}

// The guard against mass deletion, end to end: 600 certifications are
// stored; then the portal lists none. The next sync keeps all 600, reports
// a complete pass and ends with "portalsync: deletionsHeld: …"; sync
// --allow-deletions 600 then removes them.
func TestAnEmptyPortalDoesNotEmptyTheStore(t *testing.T) {
	e := startEmulator(t, func(o *dynamicstest.Options) { o.Certifications, o.Mentors = 600, 200 })
	dbURL := pgtest.Database(t, emptyDB)
	env := append(binaryEnv(e), "DATABASE_URL="+dbURL)
	runBinary(t, env, "migrate").wantExit(t, 0, "")
	runBinary(t, env, "sync").wantExit(t, 0, "")
	var certIDs, assignIDs []string
	for _, c := range e.Certifications() {
		certIDs = append(certIDs, c.ID)
	}
	for _, a := range e.Assignments() {
		assignIDs = append(assignIDs, a.ID)
	}
	e.DeleteRecords(certIDs, assignIDs)
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	stored := func() int {
		var n int
		if err := conn.QueryRow(t.Context(), "select count(*) from portal.certifications").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	r := runBinary(t, env, "sync")
	if last := lastLine(r.stderr); r.code != 1 || !strings.HasPrefix(last, "portalsync: deletionsHeld: ") || !strings.Contains(last, "--allow-deletions 600") {
		t.Errorf("sync over an empty portal: exit %d, last line %q; want deletionsHeld naming --allow-deletions 600", r.code, last)
	}
	if rep := parseReport(t, r.stdout); !rep.Complete || rep.Read != 0 {
		t.Errorf("report: complete %v, read %d; want a complete pass of nothing", rep.Complete, rep.Read)
	}
	if n := stored(); n != 600 {
		t.Errorf("%d certifications stored after the held sweep, want 600", n)
	}
	runBinary(t, env, "sync", "--allow-deletions", "600").wantExit(t, 0, "")
	if n := stored(); n != 0 {
		t.Errorf("%d certifications stored after a confirmed sweep, want 0", n)
	}
}
