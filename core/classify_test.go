package core_test

import (
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

func TestClassify(t *testing.T) {
	inactive := func(c ports.Certification) ports.Certification { c.State = ports.StateInactive; return c }
	tests := []struct {
		name string
		c    ports.Certification
		want ports.SyncStatus
	}{
		{"expires today", cert(1, days(0), 0, time.Time{}), ports.SyncStatusExpiring},
		{"expires at the end of the window", cert(1, days(30), 0, time.Time{}), ports.SyncStatusExpiring},
		{"expires the day after the window", cert(1, days(31), 0, time.Time{}), ports.SyncStatusValid},
		{"expired yesterday", cert(1, days(-1), 0, time.Time{}), ports.SyncStatusExpired},
		{"expired long ago", cert(1, days(-4000), 0, time.Time{}), ports.SyncStatusExpired},
		{"no expiry date", cert(1, nil, 0, time.Time{}), ports.SyncStatusValid},
		{"inactive with a future expiry", inactive(cert(1, days(400), 0, time.Time{})), ports.SyncStatusInactive},
		{"inactive and expired", inactive(cert(1, days(-5), 0, time.Time{})), ports.SyncStatusInactive},
		{"inactive without expiry", inactive(cert(1, nil, 0, time.Time{})), ports.SyncStatusInactive},
		{"stored status is ignored", cert(1, days(-1), ports.SyncStatusValid, synced), ports.SyncStatusExpired},
	}
	for _, tt := range tests {
		if got := core.Classify(tt.c, today, 30); got != tt.want {
			t.Errorf("%s (expires %v): %v, want %v", tt.name, tt.c.ExpiresOn, got, tt.want)
		}
	}
}

func TestClassifyAcrossMonthAndYear(t *testing.T) {
	dec := ports.Date{Year: 2026, Month: time.December, Day: 15}
	end := ports.Date{Year: 2027, Month: time.January, Day: 14}
	c := ports.Certification{ExpiresOn: end}
	if got := core.Classify(c, dec, 30); got != ports.SyncStatusExpiring {
		t.Errorf("expiry %v, today %v: %v, want expiring", end, dec, got)
	}
	c.ExpiresOn = end.AddDays(1)
	if got := core.Classify(c, dec, 30); got != ports.SyncStatusValid {
		t.Errorf("expiry %v, today %v: %v, want valid", c.ExpiresOn, dec, got)
	}
}
