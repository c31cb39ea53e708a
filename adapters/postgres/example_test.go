package postgres_test

import (
	"context"
	"encoding/json"
	"log"
	"os"

	"github.com/hlf/dynamicsportal/adapters/postgres"
)

// Open the store, apply its migrations, and ask what one backend user may
// see: the expiring certifications of the mentors they coordinate or whose
// chapter they administer, and their own.
func ExampleStore_StatusesFor() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), nil)
	if err != nil {
		log.Fatal(err) // never holds the URL's password
	}
	defer store.Close()
	if _, err := postgres.Migrate(ctx, store.Pool()); err != nil {
		log.Fatal(err)
	}
	statuses, err := store.StatusesFor(ctx, "6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f", postgres.Filter{Status: "expiring"})
	if err != nil {
		log.Fatal(err)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, s := range statuses {
		_ = enc.Encode(s)
	}
}
