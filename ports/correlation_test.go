package ports_test

import (
	"testing"

	"github.com/hlf/dynamicsportal/ports"
)

func TestCorrelationID(t *testing.T) {
	if got := ports.CorrelationIDFrom(t.Context()); got != "" {
		t.Errorf("empty context gave %q", got)
	}
	ctx := ports.WithCorrelationID(t.Context(), "abc")
	if got := ports.CorrelationIDFrom(ctx); got != "abc" {
		t.Errorf("CorrelationIDFrom = %q", got)
	}
}
