package bench

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/hlf/dynamicsportal/internal/pgtest"
)

// TestMain fails the run when a goroutine outlives the tests and
// benchmarks: every server, client and pass they start must be stopped.
func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }
