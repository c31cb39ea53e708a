package core

import "github.com/hlf/dynamicsportal/ports"

// Classify returns the sync status of c on the date today, with a window of
// expiringWithinDays days:
//
//   - inactive (State is StateInactive), whatever the dates;
//   - expired: ExpiresOn is before today;
//   - expiring: today ≤ ExpiresOn ≤ today + expiringWithinDays;
//   - valid otherwise, including a certificate without an expiry date.
func Classify(c ports.Certification, today ports.Date, expiringWithinDays int) ports.SyncStatus {
	return classify(c, today, today.AddDays(expiringWithinDays))
}

// classify is Classify with the last day of the window already computed,
// so a pass does the date arithmetic once per page rather than per record.
func classify(c ports.Certification, today, windowEnd ports.Date) ports.SyncStatus {
	switch {
	case c.State == ports.StateInactive:
		return ports.SyncStatusInactive
	case c.ExpiresOn.IsZero():
		return ports.SyncStatusValid
	case c.ExpiresOn.Before(today):
		return ports.SyncStatusExpired
	case !c.ExpiresOn.After(windowEnd):
		return ports.SyncStatusExpiring
	default:
		return ports.SyncStatusValid
	}
}
