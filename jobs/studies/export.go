package studies

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/stylelab/stylelab/experiments/study"
)

// ExportColumns are the columns of a tidy export, one row per run and metric.
var ExportColumns = []string{"run", "arm", "unit", "seed", "metric", "value"}

// Export writes observations as tidy rows for R or pandas: format "csv" (a header, then one line per row,
// values in Go's shortest round-trip form) or "json" (an array of objects with the same keys).
func Export(w io.Writer, obs []study.Observation, format string) error {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(ExportColumns); err != nil {
			return err
		}
		for _, o := range obs {
			if err := cw.Write([]string{o.Run, o.Arm, o.Unit, strconv.FormatUint(o.Seed, 10), o.Metric,
				strconv.FormatFloat(o.Value, 'g', -1, 64)}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		if obs == nil {
			obs = []study.Observation{}
		}
		return enc.Encode(obs)
	}
	return fmt.Errorf("export format %q: use csv or json", format)
}
