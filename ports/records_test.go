package ports_test

import (
	"testing"

	"github.com/hlf/dynamicsportal/ports"
)

func TestSyncStatus(t *testing.T) {
	want := map[ports.SyncStatus]string{0: "none", 1: "valid", 2: "expiring", 3: "expired", 4: "inactive", 5: "SyncStatus(5)", -1: "SyncStatus(-1)"}
	for s, name := range want {
		if s.String() != name {
			t.Errorf("SyncStatus(%d).String() = %q, want %q", int(s), s.String(), name)
		}
		if valid := s >= 0 && s <= 4; s.Valid() != valid {
			t.Errorf("SyncStatus(%d).Valid() = %v", int(s), s.Valid())
		}
	}
}
