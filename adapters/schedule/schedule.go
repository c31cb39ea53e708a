package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/hlf/dynamicsportal/ports"
)

// DefaultSchedule is the nightly schedule: 02:00 UTC.
const DefaultSchedule = "CRON_TZ=UTC 0 2 * * *"

// ParseSchedule reads a cron schedule in robfig/cron's standard syntax:
// five fields (minute, hour, day of month, month, day of week), an optional
// CRON_TZ=<zone> (or TZ=<zone>) prefix, or a descriptor such as @daily or
// @every 2s. Without a zone the schedule runs in UTC, whatever the
// machine's zone, so that replicas in different zones agree. Errors wrap
// ports.ErrInvalidConfig.
func ParseSchedule(spec string) (river.PeriodicSchedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("%w: schedule: empty; want e.g. %q or \"@every 1h\"", ports.ErrInvalidConfig, DefaultSchedule)
	}
	p := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	withZone := spec
	if !strings.HasPrefix(spec, "CRON_TZ=") && !strings.HasPrefix(spec, "TZ=") && !strings.HasPrefix(spec, "@every") {
		withZone = "CRON_TZ=UTC " + spec
	}
	s, err := p.Parse(withZone)
	if err != nil {
		return nil, fmt.Errorf("%w: schedule %q: %v", ports.ErrInvalidConfig, spec, err)
	}
	if every, ok := strings.CutPrefix(spec, "@every "); ok {
		// cron rounds a shorter delay up to a second; say so instead.
		if d, err := time.ParseDuration(strings.TrimSpace(every)); err == nil && d < time.Second {
			return nil, fmt.Errorf("%w: schedule %q: @every needs at least 1s", ports.ErrInvalidConfig, spec)
		}
	}
	return s, nil
}
