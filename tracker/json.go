package tracker

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/stylelab/stylelab/tracker/format"
)

// FormatValue writes a metric value the way exports and JSON show it: format.Exact, the shortest decimal
// that reads back as the same float64, or "NaN", "Infinity", "-Infinity" (which strconv.ParseFloat,
// Python's float() and JavaScript's Number() all read back). For display use format.Value.
func FormatValue(v float64) string { return format.Exact(v) }

// Value is a float64 whose JSON form is a number when finite and the string "NaN", "Infinity" or
// "-Infinity" otherwise (plain encoding/json refuses non-finite numbers).
type Value float64

func (v Value) MarshalJSON() ([]byte, error) {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte(`"` + FormatValue(f) + `"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

func (v *Value) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else {
		s = string(b)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("metric value %s: %w", b, err)
	}
	*v = Value(f)
	return nil
}

type runInfoJSON struct {
	ID         string            `json:"id"`
	Experiment string            `json:"experiment"`
	Name       string            `json:"name"`
	Status     string            `json:"status"`
	Start      time.Time         `json:"start"`
	End        time.Time         `json:"end,omitzero"`
	Heartbeat  time.Time         `json:"heartbeat,omitzero"`
	Params     map[string]string `json:"params"`
	Tags       map[string]string `json:"tags"`
	Latest     map[string]Value  `json:"latest"`
	Error      string            `json:"error,omitempty"`
	Deleted    bool              `json:"deleted"`
}

// MarshalJSON writes the run with lower-case keys, times in RFC 3339, and non-finite latest values as
// strings (see Value).
func (ri RunInfo) MarshalJSON() ([]byte, error) {
	j := runInfoJSON{ID: ri.ID, Experiment: ri.Experiment, Name: ri.Name, Status: ri.Status, Start: ri.Start,
		End: ri.End, Heartbeat: ri.Heartbeat, Params: ri.Params, Tags: ri.Tags, Error: ri.Error, Deleted: ri.Deleted,
		Latest: make(map[string]Value, len(ri.Latest))}
	for k, v := range ri.Latest {
		j.Latest[k] = Value(v)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (ri *RunInfo) UnmarshalJSON(b []byte) error {
	var j runInfoJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*ri = RunInfo{ID: j.ID, Experiment: j.Experiment, Name: j.Name, Status: j.Status, Start: j.Start, End: j.End,
		Heartbeat: j.Heartbeat, Params: j.Params, Tags: j.Tags, Error: j.Error, Deleted: j.Deleted,
		Latest: make(map[string]float64, len(j.Latest))}
	for k, v := range j.Latest {
		ri.Latest[k] = float64(v)
	}
	return nil
}

type pointJSON struct {
	Step  int64     `json:"step"`
	Value Value     `json:"value"`
	Time  time.Time `json:"time"`
}

// MarshalJSON writes {"step":…, "value":…, "time":…}, a non-finite value as a string (see Value).
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal(pointJSON{Step: p.Step, Value: Value(p.Value), Time: p.Time})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Point) UnmarshalJSON(b []byte) error {
	var j pointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Point{Step: j.Step, Value: float64(j.Value), Time: j.Time}
	return nil
}

// MarshalJSON writes the summary with lower-case keys and non-finite values as strings (see Value).
func (m MetricSummary) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Key       string `json:"key"`
		Count     int64  `json:"count"`
		NonFinite int64  `json:"non_finite"`
		FirstStep int64  `json:"first_step"`
		LastStep  int64  `json:"last_step"`
		Min       Value  `json:"min"`
		Max       Value  `json:"max"`
		Last      Value  `json:"last"`
	}{m.Key, m.Count, m.NonFinite, m.FirstStep, m.LastStep, Value(m.Min), Value(m.Max), Value(m.Last)})
}
