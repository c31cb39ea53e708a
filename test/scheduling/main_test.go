package scheduling

import (
	"testing"

	"github.com/hlf/dynamicsportal/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Wrap(m).Run() }
