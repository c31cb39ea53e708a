package dynamics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// DateBehavior is how a Dataverse date column holds its value.
type DateBehavior string

// The three behaviours of a Dataverse date column.
const (
	// DateOnly columns hold a date, sent as 2027-01-15.
	DateOnly DateBehavior = "DateOnly"
	// TimeZoneIndependent columns hold the date and time as written,
	// never converted; the Web API sends them as 2027-01-15T00:00:00Z.
	// Microsoft's default for new date-only columns.
	TimeZoneIndependent DateBehavior = "TimeZoneIndependent"
	// UserLocal columns hold a UTC instant whose date depends on the zone:
	// its date is taken in the adapter's Location.
	UserLocal DateBehavior = "UserLocal"
)

// DefaultDateBehavior is a date column's behaviour when the portal does not
// say it (the metadata read is refused, say) and no override does: the
// behaviour of earlier releases, which read every date-time in Location.
const DefaultDateBehavior = UserLocal

// The date columns of each table, by logical name.
var (
	certificationDates = []string{"hlf_issuedon", "hlf_expireson"}
	assignmentDates    = []string{"hlf_startdate", "hlf_enddate"}
	dateColumns        = slices.Concat(certificationDates, assignmentDates)
)

// ParseDateBehavior reads a behaviour's name, as Dataverse spells it.
func ParseDateBehavior(s string) (DateBehavior, error) {
	switch b := DateBehavior(strings.TrimSpace(s)); b {
	case DateOnly, TimeZoneIndependent, UserLocal:
		return b, nil
	}
	return "", invalid("date behaviour %q: want DateOnly, TimeZoneIndependent or UserLocal", s)
}

// dateZones gives each date column of a table the zone its date-times are
// read in: UTC for DateOnly and TimeZoneIndependent (the date as written),
// Location for UserLocal.
type dateZones map[string]*time.Location

func (z dateZones) of(column string) *time.Location {
	if l := z[column]; l != nil {
		return l
	}
	return time.UTC
}

// zoneOf returns the zone a date column's date-times are read in.
type zoneOf func(column string) *time.Location

// utcDates reads every date-time as written.
func utcDates(string) *time.Location { return time.UTC }

// lazyZones returns the zones of d's columns as a zoneOf that reads the
// portal's metadata at its first use: a page whose date columns all hold
// plain dates (2027-01-15, unambiguous) needs no behaviour, and costs no
// request.
func (c *Client) lazyZones(ctx context.Context, d *dateBehaviors) zoneOf {
	var z dateZones
	return func(column string) *time.Location {
		if z == nil {
			z = c.zones(ctx, d)
		}
		return z.of(column)
	}
}

// dateBehaviors reads, once per client and table, the behaviours of the
// table's date columns from the portal's metadata, and turns them, with
// the overrides, into the zones their values are read in.
type dateBehaviors struct {
	entity  string   // the table's logical name
	columns []string // its date columns

	mu       sync.Mutex
	zones    dateZones // set once resolved
	resolved bool
}

// metadataURL is the request that reads a table's date columns: exactly
// the one Microsoft documents for DateTimeAttributeMetadata.
func (c *Client) metadataURL(entity string) string {
	return c.apiBase + "EntityDefinitions(LogicalName='" + url.PathEscape(entity) +
		"')/Attributes/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata?$select=LogicalName,DateTimeBehavior,Format"
}

// wireDateAttribute is one column of the metadata answer.
type wireDateAttribute struct {
	LogicalName      string `json:"LogicalName"`
	DateTimeBehavior struct {
		Value string `json:"Value"`
	} `json:"DateTimeBehavior"`
	Format string `json:"Format"`
}

// zones returns the zones of d's columns, reading the metadata at the
// first call. A read that fails (the application user may not read
// metadata, say) is warned about once, naming the override, and the
// override or DefaultDateBehavior holds; a read cut by ctx is tried again
// at the next call.
func (c *Client) zones(ctx context.Context, d *dateBehaviors) dateZones {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.resolved {
		return d.zones
	}
	behaviors := map[string]DateBehavior{}
	need := false
	for _, col := range d.columns {
		if b, ok := c.dateOverrides[col]; ok {
			behaviors[col] = b
		} else {
			need = true
		}
	}
	if need {
		read, err := c.readDateBehaviors(ctx, d)
		if err != nil && ctx.Err() != nil {
			return c.zonesOf(d, behaviors) // not settled: try again next time
		}
		var missing []string
		for _, col := range d.columns {
			if _, ok := behaviors[col]; ok {
				continue
			}
			if b, ok := read[col]; ok {
				behaviors[col] = b
				continue
			}
			missing = append(missing, col)
		}
		if len(missing) > 0 {
			reason := "the portal does not list them"
			if err != nil {
				reason = err.Error()
			}
			c.log.LogAttrs(ctx, slog.LevelWarn, "the behaviour of date columns is unknown: they are read as "+string(DefaultDateBehavior)+
				"; say each column's behaviour with the date behaviour override (DYNAMICS_DATE_BEHAVIORS, Options.DateBehaviors)",
				slog.String("entity", d.entity), slog.String("columns", strings.Join(missing, ",")), slog.String("reason", reason))
		}
	}
	d.zones, d.resolved = c.zonesOf(d, behaviors), true
	return d.zones
}

// zonesOf turns behaviours into zones, DefaultDateBehavior for a column
// without one.
func (c *Client) zonesOf(d *dateBehaviors, behaviors map[string]DateBehavior) dateZones {
	z := dateZones{}
	for _, col := range d.columns {
		b, ok := behaviors[col]
		if !ok {
			b = DefaultDateBehavior
		}
		z[col] = time.UTC
		if b == UserLocal {
			z[col] = c.loc
		}
	}
	return z
}

// readDateBehaviors asks the portal for the behaviours of d's date
// columns.
func (c *Client) readDateBehaviors(ctx context.Context, d *dateBehaviors) (map[string]DateBehavior, error) {
	const op = "DateBehaviors"
	k := newCall(ctx, op, http.MethodGet, c.metadataURL(d.entity))
	r, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	var w wirePage[wireDateAttribute]
	if err := decodeJSON(k, r, &w); err != nil {
		return nil, err
	}
	if w.Value == nil {
		return nil, errors.New("a metadata answer without a value array")
	}
	out := map[string]DateBehavior{}
	for _, a := range w.Value {
		b, err := ParseDateBehavior(a.DateTimeBehavior.Value)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", cleanText(a.LogicalName, 128), err)
		}
		out[a.LogicalName] = b
	}
	return out, nil
}

// checkDateOverrides validates the overrides: known columns, known
// behaviours.
func checkDateOverrides(m map[string]DateBehavior) error {
	for col, b := range m {
		if !slices.Contains(dateColumns, col) {
			return invalid("date behaviours: %q is not a date column (want one of %s)", col, strings.Join(dateColumns, ", "))
		}
		if _, err := ParseDateBehavior(string(b)); err != nil {
			return err
		}
	}
	return nil
}

// ParseDateBehaviors reads the override setting: column=Behavior pairs
// separated by commas, such as
// "hlf_expireson=TimeZoneIndependent,hlf_startdate=UserLocal". Errors wrap
// ports.ErrInvalidConfig.
func ParseDateBehaviors(s string) (map[string]DateBehavior, error) {
	out := map[string]DateBehavior{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		col, b, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, invalid("date behaviours: %q: want column=Behavior", pair)
		}
		beh, err := ParseDateBehavior(b)
		if err != nil {
			return nil, err
		}
		out[strings.TrimSpace(col)] = beh
	}
	if err := checkDateOverrides(out); err != nil {
		return nil, err
	}
	return out, nil
}
