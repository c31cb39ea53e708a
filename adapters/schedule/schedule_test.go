package schedule

import (
	"errors"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

func TestParseSchedule(t *testing.T) {
	from := time.Date(2026, 12, 5, 8, 30, 15, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	for _, tc := range []struct {
		spec string
		want time.Time
	}{
		{DefaultSchedule, time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)},
		{"0 2 * * *", time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)}, // UTC without a zone
		{"CRON_TZ=Europe/Berlin 0 2 * * *", time.Date(2026, 12, 6, 2, 0, 0, 0, berlin)},
		{"TZ=Europe/Berlin 45 9 * * *", time.Date(2026, 12, 5, 9, 45, 0, 0, berlin)},
		{"*/15 * * * *", time.Date(2026, 12, 5, 8, 45, 0, 0, time.UTC)},
		{"@daily", time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)},
		{"@every 2s", from.Add(2 * time.Second)},
		{"  @every 90m ", time.Date(2026, 12, 5, 10, 0, 15, 0, time.UTC)},
	} {
		s, err := ParseSchedule(tc.spec)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tc.spec, err)
			continue
		}
		if got := s.Next(from); !got.Equal(tc.want) {
			t.Errorf("ParseSchedule(%q).Next(%v) = %v, want %v", tc.spec, from, got, tc.want)
		}
	}
}

func TestParseScheduleRefusesBadSpecs(t *testing.T) {
	for _, spec := range []string{"", "0 2 * *", "0 2 * * * *", "61 * * * *", "CRON_TZ=Mars/Olympus 0 2 * * *", "@every 10ms", "@every soon", "@hourly-ish", "nightly"} {
		_, err := ParseSchedule(spec)
		if !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("ParseSchedule(%q) = %v, want a config error", spec, err)
		}
	}
}
