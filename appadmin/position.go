package appadmin

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Position is where a reset moves the committed offset of each input
// partition. The zero Position is Earliest, Kafka Streams' default.
type Position struct {
	kind   positionKind
	offset int64         // AtOffset, ShiftBy
	at     time.Time     // AtTime
	ago    time.Duration // ByDuration
}

type positionKind int

const (
	posEarliest positionKind = iota
	posLatest
	posOffset
	posTime
	posDuration
	posShift
)

// Earliest moves each partition to its first offset (the log start), so
// the application processes everything the topic still holds.
func Earliest() Position { return Position{} }

// Latest moves each partition to its end: the application skips what is
// there and processes only records written from now on.
func Latest() Position { return Position{kind: posLatest} }

// AtOffset moves each partition to offset n, brought within the
// partition's [start, end] range.
func AtOffset(n int64) Position { return Position{kind: posOffset, offset: n} }

// AtTime moves each partition to its first record whose timestamp is at
// or after t, or to its end if there is none.
func AtTime(t time.Time) Position { return Position{kind: posTime, at: t} }

// ByDuration is AtTime(now - d), with now taken when the reset runs.
func ByDuration(d time.Duration) Position { return Position{kind: posDuration, ago: d} }

// ShiftBy moves each partition n offsets from its committed offset (from
// its start where nothing is committed), brought within its [start, end]
// range; n may be negative.
func ShiftBy(n int64) Position { return Position{kind: posShift, offset: n} }

// String describes the position as the options spell it.
func (p Position) String() string {
	switch p.kind {
	case posLatest:
		return "latest"
	case posOffset:
		return fmt.Sprintf("offset %d", p.offset)
	case posTime:
		return "datetime " + p.at.Format(time.RFC3339Nano)
	case posDuration:
		return fmt.Sprintf("%v ago", p.ago)
	case posShift:
		return fmt.Sprintf("shift by %+d", p.offset)
	}
	return "earliest"
}

// dateTimeLayouts are the forms --to-datetime accepts: RFC 3339, and
// Kafka's 'YYYY-MM-DDThh:mm:ss.sss' without a zone, read in local time as
// Kafka's tool reads it.
var dateTimeLayouts = []struct {
	layout string
	local  bool
}{
	{time.RFC3339Nano, false},
	{"2006-01-02T15:04:05.999999999Z0700", false},
	{"2006-01-02T15:04:05.999999999", true},
	{"2006-01-02T15:04", true},
	{"2006-01-02", true},
}

// ParseDateTime parses a --to-datetime value: RFC 3339
// (2024-05-01T12:00:00Z, 2024-05-01T14:00:00.500+02:00), or a date and
// time without a zone (2024-05-01T12:00:00.000, 2024-05-01T12:00,
// 2024-05-01), read in local time, as Kafka's tool reads it.
func ParseDateTime(s string) (time.Time, error) {
	for _, l := range dateTimeLayouts {
		var t time.Time
		var err error
		if l.local {
			t, err = time.ParseInLocation(l.layout, s, time.Local)
		} else {
			t, err = time.Parse(l.layout, s)
		}
		if err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("datetime %q: want RFC 3339 (2024-05-01T12:00:00Z) or a local date and time (2024-05-01T12:00:00.000)", s)
}

// isoDuration is ISO 8601's PnDTnHnMnS, the form Kafka's --by-duration
// takes.
var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// ParseDuration parses a --by-duration value: a Go duration (90m, 1h30m,
// 36h) or an ISO 8601 duration as Kafka's tool takes it (PT1H30M, P1DT12H).
// It must not be negative.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		var ok bool
		if d, ok = parseISODuration(strings.ToUpper(s)); !ok {
			return 0, fmt.Errorf("duration %q: want a Go duration (1h30m) or ISO 8601 (PT1H30M, P1DT12H)", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return d, nil
}

func parseISODuration(s string) (time.Duration, bool) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil || n > int64(1<<62)/int64(unit) {
			return 0, false
		}
		d += time.Duration(n) * unit
	}
	if m[4] != "" {
		secs, err := strconv.ParseFloat(m[4], 64)
		if err != nil || secs > 1e9 {
			return 0, false
		}
		d += time.Duration(secs * float64(time.Second))
	}
	return d, true
}
