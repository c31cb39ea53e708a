package core_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

func TestReportJSON(t *testing.T) {
	r := core.Report{
		SyncCounts: ports.SyncCounts{Read: 7, Pages: 3, Status: ports.StatusCounts{Valid: 4, Expiring: 1, Expired: 1, Inactive: 1},
			Writes: ports.WriteCounts{Done: 5, Unchanged: 1, Failed: 1}},
		Duration:  1234567 * time.Microsecond,
		Resumed:   true,
		Complete:  true,
		StartedAt: time.Date(2026, 11, 28, 1, 0, 7, 0, time.UTC),
		FailedIDs: []string{id(3)},
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"read":7,"pages":3,"status":{"valid":4,"expiring":1,"expired":1,"inactive":1},` +
		`"writes":{"done":5,"unchanged":1,"failed":1,"deleted":0},"resumed":true,"complete":true,` +
		`"startedAt":"2026-11-28T01:00:07Z","failedIds":["` + id(3) + `"],"duration":"1.235s"}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
}
