package appadmin_test

import (
	"testing"
	"time"

	"github.com/millrace/millrace/appadmin"
)

func TestParseDurationTakesGoAndISO8601Durations(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90m":        90 * time.Minute,
		"1h30m":      90 * time.Minute,
		"PT1H30M":    90 * time.Minute,
		"P1D":        24 * time.Hour,
		"P1DT12H":    36 * time.Hour,
		"PT0.5S":     500 * time.Millisecond,
		"pt10m":      10 * time.Minute,
		"P2DT3H4M5S": 51*time.Hour + 4*time.Minute + 5*time.Second,
	} {
		got, err := appadmin.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "P", "PT", "P1H", "-1h", "yesterday", "1 hour"} {
		if d, err := appadmin.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
}

func TestParseDateTimeTakesRFC3339AndKafkasLocalForm(t *testing.T) {
	utc := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2024-05-01T12:00:00Z":         utc,
		"2024-05-01T14:00:00+02:00":    utc,
		"2024-05-01T12:00:00.500Z":     utc.Add(500 * time.Millisecond),
		"2024-05-01T14:00:00.000+0200": utc,
		"2024-05-01T12:00:00.000":      time.Date(2024, 5, 1, 12, 0, 0, 0, time.Local),
		"2024-05-01T12:00":             time.Date(2024, 5, 1, 12, 0, 0, 0, time.Local),
		"2024-05-01":                   time.Date(2024, 5, 1, 0, 0, 0, 0, time.Local),
	} {
		got, err := appadmin.ParseDateTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseDateTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "now", "2024-13-01", "01/05/2024"} {
		if _, err := appadmin.ParseDateTime(in); err == nil {
			t.Errorf("ParseDateTime(%q) succeeded, want an error", in)
		}
	}
}

func TestPositionsDescribeThemselves(t *testing.T) {
	for p, want := range map[appadmin.Position]string{
		{}:                                       "earliest",
		appadmin.Earliest():                      "earliest",
		appadmin.Latest():                        "latest",
		appadmin.AtOffset(7):                     "offset 7",
		appadmin.ShiftBy(-3):                     "shift by -3",
		appadmin.ByDuration(time.Hour):           "1h0m0s ago",
		appadmin.AtTime(time.UnixMilli(0).UTC()): "datetime 1970-01-01T00:00:00Z",
	} {
		if got := p.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", p, got, want)
		}
	}
}
