package dynamicstest

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// Seeded certification names by type (hlf_certificationtype 1, 2, 3).
var certNames = [3][]string{
	{"Peer mentor basic course", "Peer mentor basic course (cancer support)", "Peer mentor basic course (dementia)"},
	{"Peer mentor refresher", "Annual peer mentor refresher", "Safeguarding refresher"},
	{"Coordinator course", "Group facilitator course", "Coordinator first aid course"},
}

// firstVersion is the row version of the first seeded record.
const firstVersion = 40000

// seed builds the data of an emulator. It is deterministic: the same seed,
// sizes and day give the same rows.
func seed(seed int64, nCerts, nMentors int, today ports.Date) (*store, ports.Identity) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed_0f_ce47))
	idRng := rand.New(rand.NewPCG(uint64(seed), 0x1de_7171))
	identity := ports.Identity{UserID: guid(idRng), BusinessUnitID: guid(idRng), OrganizationID: guid(idRng)}

	midnight := time.Date(today.Year, today.Month, today.Day, 0, 0, 0, 0, time.UTC)
	// day returns today moved by off days; the dates used are cached.
	const past = 2000
	var days [past + 1000]ports.Date
	day := func(off int) ports.Date {
		i := off + past
		if i < 0 || i >= len(days) {
			return today.AddDays(off)
		}
		if days[i].IsZero() {
			days[i] = today.AddDays(off)
		}
		return days[i]
	}
	before := func(maxDays int) time.Time {
		return midnight.Add(-time.Duration(1+rng.Int64N(int64(maxDays)*86400)) * time.Second)
	}
	mentors := guids(rng, nMentors)
	coordinators := guids(rng, max(1, nMentors/10))
	chapters := guids(rng, max(1, min(24, nMentors/4)))

	// Keys come sorted from their own generator, so the rows are made in
	// key order and never moved.
	keyRng := rand.New(rand.NewPCG(uint64(seed), 0x6e75_1d5))
	certIDs := guids(keyRng, nCerts)
	slices.Sort(certIDs)

	version := int64(firstVersion)
	certs := make([]certRow, nCerts)
	for i := range certs {
		c := &certs[i]
		c.id = certIDs[i]
		c.contact = mentors[i%len(mentors)]
		c.ctype = 1 + rng.IntN(3)
		c.name = certNames[c.ctype-1][rng.IntN(len(certNames[c.ctype-1]))]
		// Offsets in days from today; issued is always in the past.
		want, expires, issued := ports.SyncStatusValid, 0, -30-rng.IntN(1065)
		switch kind := rng.IntN(100); {
		case kind < 10: // inactive, any expiry
			c.state = int(ports.StateInactive)
			expires = rng.IntN(800) - 400
			issued = min(issued, expires-365)
			want = ports.SyncStatusInactive
		case kind < 20: // does not expire
		case kind < 35: // expired up to 400 days ago
			expires = -1 - rng.IntN(400)
			issued = expires - 365*(1+rng.IntN(3))
			want = ports.SyncStatusExpired
		case kind < 50: // expires within 30 days
			expires = 1 + rng.IntN(29)
			want = ports.SyncStatusExpiring
		default: // valid for 45 days or more
			expires = 45 + rng.IntN(900)
		}
		if expires != 0 {
			c.expires = day(expires)
		}
		c.issued = day(issued)
		c.modified = before(min(700, -issued))
		switch roll := rng.IntN(100); {
		case roll < 25: // never synced
		case roll < 75: // synced, status current
			c.status = int(want)
			c.lastSynced = before(30)
		default: // synced, status stale
			c.status = int(want)%4 + 1
			c.lastSynced = before(30)
		}
		version++
		c.version = version
	}

	assigns := make([]assignRow, 0, nMentors*13/10)
	for _, m := range mentors {
		n := 1
		if rng.IntN(100) < 30 {
			n = 2
		}
		for range n {
			a := assignRow{
				id:          guid(rng),
				mentor:      m,
				coordinator: coordinators[rng.IntN(len(coordinators))],
				chapter:     chapters[rng.IntN(len(chapters))],
			}
			started := 30 + rng.IntN(900)
			a.start = day(-started)
			a.modified = before(started)
			switch roll := rng.IntN(100); {
			case roll < 70:
				a.status = 1 // active
			case roll < 85:
				a.status = 2 // paused
			default:
				a.status = 3 // ended
				a.end = day(-started + 1 + rng.IntN(29))
				a.state = int(ports.StateInactive)
			}
			version++
			a.version = version
			assigns = append(assigns, a)
		}
	}
	// Sort positions, not the rows, then place each row once.
	order := make([]int32, len(assigns))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(assigns[a].id, assigns[b].id) })
	sorted := make([]assignRow, len(assigns))
	for i, j := range order {
		sorted[i] = assigns[j]
	}
	assigns = sorted

	st := &store{version: version, writeCount: map[string]int{}}
	st.certs.rows = certs
	st.assigns.rows = assigns
	return st, identity
}

func guids(rng *rand.Rand, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = guid(rng)
	}
	return out
}

// guid returns a random version 4 GUID from rng, lower case.
func guid(rng *rand.Rand) string {
	var u [16]byte
	binary.LittleEndian.PutUint64(u[:8], rng.Uint64())
	binary.LittleEndian.PutUint64(u[8:], rng.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// parseGUID returns s as a lower-case GUID, or false when s is not one.
func parseGUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return "", false
			}
		}
	}
	return string(b), true
}
