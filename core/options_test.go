package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

func TestNewSyncServiceValidates(t *testing.T) {
	e := newEnv(t, nil)
	p, st := e.mocks.portal, e.mocks.store
	for _, tt := range []struct {
		name string
		f    func() (*core.SyncService, error)
	}{
		{"no portal", func() (*core.SyncService, error) { return core.NewSyncService(nil, st, nil) }},
		{"no store", func() (*core.SyncService, error) { return core.NewSyncService(p, nil, nil) }},
		{"page size", func() (*core.SyncService, error) {
			return core.NewSyncService(p, st, &core.SyncOptions{PageSize: -1})
		}},
		{"window", func() (*core.SyncService, error) {
			return core.NewSyncService(p, st, &core.SyncOptions{ExpiringWithin: -time.Hour})
		}},
		{"budget", func() (*core.SyncService, error) {
			return core.NewSyncService(p, st, &core.SyncOptions{Budget: -time.Second})
		}},
		{"concurrency", func() (*core.SyncService, error) {
			return core.NewSyncService(p, st, &core.SyncOptions{Concurrency: -1})
		}},
		{"negative write batch", func() (*core.SyncService, error) {
			return core.NewSyncService(p, st, &core.SyncOptions{WriteBatch: -1})
		}},
		{"write batch over the $batch limit", func() (*core.SyncService, error) {
			return core.NewSyncService(p, st, &core.SyncOptions{WriteBatch: ports.MaxBatchWrites + 1})
		}},
	} {
		if svc, err := tt.f(); svc != nil || !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("%s: %v, %v; want ErrInvalidConfig", tt.name, svc, err)
		}
	}
	if svc, err := core.NewSyncService(p, st, nil); svc == nil || err != nil {
		t.Errorf("defaults: %v, %v", svc, err)
	}
}

func TestExpiringWithinIsRoundedUpToDays(t *testing.T) {
	for _, tt := range []struct {
		within  time.Duration
		expires int
		want    ports.SyncStatus
	}{
		{24 * time.Hour, 1, ports.SyncStatusExpiring},
		{24 * time.Hour, 2, ports.SyncStatusValid},
		{36 * time.Hour, 2, ports.SyncStatusExpiring},
		{36 * time.Hour, 3, ports.SyncStatusValid},
		{0, 30, ports.SyncStatusExpiring}, // the default, 30 days
		{0, 31, ports.SyncStatusValid},
	} {
		e := newEnv(t, newPortal(10, cert(1, days(tt.expires), 0, time.Time{})))
		if _, err := e.service(t, core.SyncOptions{ExpiringWithin: tt.within}).Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := e.store.records()[0].Computed; got != tt.want {
			t.Errorf("window %v, expires in %d days: %v, want %v", tt.within, tt.expires, got, tt.want)
		}
	}
}
