package schedule_test

import (
	"os"
	"testing"

	"github.com/hlf/dynamicsportal/internal/pgtest"
)

// TestMain runs the package's tests on a plain and on a Supabase-shaped
// database, and stops the throwaway clusters at the end.
func TestMain(m *testing.M) { os.Exit(pgtest.RunShapes(m).Run()) }
