package dashboard

import (
	"errors"
	"fmt"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
)

// The comparison model: what the compare page, /api/compare and the standalone report show.

// MaxCompare is the most runs one comparison takes (a sweep of 4 losses × 4 weights × 3 seeds × 4 paintings
// is 192 runs).
const MaxCompare = 250

// CompareThumbsOver is the number of compared runs above which the live compare page shows thumbnails
// (/thumbs/…, each linking to its full image) instead of full-size images.
const CompareThumbsOver = 8

// ErrBadCompare marks a comparison asked for with no runs or more than MaxCompare (HTTP 400 everywhere).
var ErrBadCompare = errors.New("bad comparison")

// Comparison is what the compare page, /api/compare and the standalone report show.
type Comparison struct {
	Runs   []*tracker.RunInfo
	Params []ParamRow // every param key of any run, sorted by key
	// NDiffer counts the params whose values are not all equal (a run lacking the key differs).
	NDiffer int
	Keys    []string // metric keys, first-seen order
	// Series holds, per key, one series per run that logged it: whole histories from Compare, at most
	// max points a series (steps shared by the runs) from CompareSampled.
	Series map[string][]charts.Series
	Images []ImageRow // image artifacts grouped by name, first-seen order
}

// ParamRow is one param across the compared runs; Values[i] belongs to Runs[i] and Present[i] says whether
// that run has the param at all.
type ParamRow struct {
	Key     string
	Values  []string
	Present []bool
	Differ  bool
}

// ImageRow is one image artifact name across runs; Artifacts[i] is nil when Runs[i] has none by that name.
type ImageRow struct {
	Name      string
	Artifacts []*tracker.Artifact
}

// Compare reads the runs (ids or unique prefixes) and assembles their comparison, with whole histories.
func Compare(st Store, ids []string) (*Comparison, error) { return CompareSampled(st, ids, 0) }

// CompareSampled is Compare with each metric's curves reduced together to at most max points, as the
// compare page draws them (charts.CompareSeriesSampled: a store that samples, as *tracker.Store does, reads
// only the points kept); max <= 0 keeps every point.
func CompareSampled(st Store, ids []string, max int) (*Comparison, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no runs to compare: give run ids (/compare?ids=ID,ID)", ErrBadCompare)
	}
	if len(ids) > MaxCompare {
		return nil, fmt.Errorf("%w: too many runs to compare: %d (at most %d)", ErrBadCompare, len(ids), MaxCompare)
	}
	runs, series, keys, err := charts.CompareSeriesSampled(st, ids, max)
	if err != nil {
		return nil, err
	}
	c := &Comparison{Runs: runs, Keys: keys, Series: series}
	// Params: the union of keys; a row differs when any run's value (or absence) differs from the first's.
	infos := make([]tracker.RunInfo, len(runs))
	for i, r := range runs {
		infos[i] = *r
	}
	for _, k := range tracker.ParamKeys(infos) {
		row := ParamRow{Key: k, Differ: tracker.ParamDiffers(infos, k)}
		for _, r := range runs {
			v, ok := r.Params[k]
			row.Values, row.Present = append(row.Values, v), append(row.Present, ok)
		}
		if row.Differ {
			c.NDiffer++
		}
		c.Params = append(c.Params, row)
	}
	// Images grouped by artifact name.
	index := map[string]int{}
	for i, r := range runs {
		arts, err := st.Artifacts(r.ID)
		if err != nil {
			return nil, fmt.Errorf("listing the artifacts of run %s: %w", charts.ShortID(r.ID), err)
		}
		for _, a := range arts {
			if !isImage(a.MediaType) {
				continue
			}
			j, ok := index[a.Name]
			if !ok {
				j = len(c.Images)
				index[a.Name] = j
				c.Images = append(c.Images, ImageRow{Name: a.Name, Artifacts: make([]*tracker.Artifact, len(runs))})
			}
			if c.Images[j].Artifacts[i] == nil {
				a := a
				c.Images[j].Artifacts[i] = &a
			}
		}
	}
	return c, nil
}

// MaxComparePoints bounds the points of one compare chart: with n runs each curve is drawn with
// min(MaxPoints, max(MinComparePoints, MaxComparePoints/n)) points, so 20 runs keep MaxPoints (1,500) each
// and 200 runs get 500 each (a 200-run page stays a few MB).
const (
	MaxComparePoints = 100_000
	MinComparePoints = 100
)

func (s *Server) comparePoints(n int) int {
	m := s.o.MaxPoints
	if m <= 0 || n <= 0 || n*m <= MaxComparePoints {
		return m
	}
	return max(MinComparePoints, MaxComparePoints/n)
}
