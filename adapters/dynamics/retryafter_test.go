package dynamics

import (
	"testing"
	"testing/synctest"
	"time"
)

// A Retry-After in decimal seconds is honoured as asked: neither ignored in
// favour of the backoff (1 s) when it is shorter, nor cut short when it is
// longer, which would send the retry while the portal still refuses.
func TestDecimalRetryAfterIsHonoured(t *testing.T) {
	for _, tt := range []struct {
		header string
		want   time.Duration
	}{
		{"0.25", 250 * time.Millisecond},
		{"2.5", 2500 * time.Millisecond},
	} {
		t.Run(tt.header, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tm := newTimed()
				f := &fakeNet{api: tm.wrap(sequence(throttled(tt.header), okJSON(fixture(t, "whoami.json"))))}
				c := newNetClient(t, f)
				if _, err := c.WhoAmI(t.Context()); err != nil {
					t.Fatal(err)
				}
				wantTimes(t, tm.times(), 0, tt.want)
			})
		})
	}
}
