package cli

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/adapters/schedule"
)

func migrateFlags(fs *flag.FlagSet, e *env) {
	databaseFlags(fs, e)
	fs.StringVar(&e.store.sqlDir, "sql", "", "write what migrate would apply as SQL files into this directory, named as the Supabase CLI expects "+
		"(supabase/migrations), instead of applying it; needs no database")
}

// sqlFileTimes are the timestamps of the migrations' SQL files, in the
// order migrate applies them: the time each migration came into the
// module. They never change, so files already in a team's folder stay the
// same; a migration added later gets a later time, so its file sorts after
// every file before it. A migration missing here (a new one of the store,
// or of River after an upgrade) makes migrate --sql fail, and its test
// with it, until it has its line.
var sqlFileTimes = map[string]string{
	"portal_private_schema":                                      "20261206100000",
	"portal_00001_supabase_roles_and_auth_uid":                   "20261206100001",
	"portal_00002_portal_tables":                                 "20261206100002",
	"portal_00003_portal_certification_statuses":                 "20261206100003",
	"portal_00004_enqueue_sync":                                  "20261206100004",
	"portal_00005_statuses_use_the_mentor_index":                 "20261206100005",
	"portal_00006_private_schema_and_utc_today":                  "20261206100006",
	"river_001_create_river_migration":                           "20261206100101",
	"river_002_initial_schema":                                   "20261206100102",
	"river_003_river_job_tags_non_null":                          "20261206100103",
	"river_004_pending_and_more":                                 "20261206100104",
	"river_005_migration_unique_client":                          "20261206100105",
	"river_006_bulk_unique":                                      "20261206100106",
	"river_007_notification_outbox_sqlite_jsonb_and_sql_cleanup": "20261206100107",
	"river_008_job_id_autoincrement":                             "20261206100108",
	"river_enqueue_sync":                                         "20261207100201",
}

// migrationSQLFiles returns every migration as a SQL file, named
// "<timestamp>_<migration>.sql", in the order migrate applies them.
func migrationSQLFiles() ([]postgres.SQLFile, error) {
	store, err := postgres.SQLFiles()
	if err != nil {
		return nil, err
	}
	river, err := schedule.SQLFiles()
	if err != nil {
		return nil, err
	}
	files := append(store, river...)
	for i, f := range files {
		at, ok := sqlFileTimes[f.Name]
		if !ok {
			return nil, fmt.Errorf("migration %s has no timestamp for its SQL file (internal/cli: sqlFileTimes)", f.Name)
		}
		files[i].Name = at + "_" + f.Name + ".sql"
	}
	return files, nil
}

// writeMigrationSQL writes the migrations' SQL files into dir, creating it
// when missing, and prints each file's path. A file already there with the
// same content is left as it is; one with other content is refused.
func (e *env) writeMigrationSQL(dir string) error {
	files, err := migrationSQLFiles()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		if old, err := os.ReadFile(path); err == nil && !bytes.Equal(old, []byte(f.SQL)) {
			return usageError{fmt.Sprintf("--sql %s: %s exists with other content; a migration file never changes once written", dir, f.Name)}
		}
		if err := os.WriteFile(path, []byte(f.SQL), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, path)
	}
	return nil
}
