package dashboard

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
)

// The compare page (/compare?ids=) and its standalone HTML report.

// compareIDs reads run ids from ?ids=a,b (repeatable) and ?id=a&id=b, in order, without duplicates.
func compareIDs(q url.Values) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s != "" && !seen[s] {
			seen[s] = true
			ids = append(ids, s)
		}
	}
	for _, v := range q["ids"] {
		for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			add(s)
		}
	}
	for _, v := range q["id"] {
		add(v)
	}
	return ids
}

type cellView struct {
	Value   string
	Missing bool
}

type paramView struct {
	Key    string
	Differ bool
	Cells  []cellView
}

type imageCell struct {
	ID        string       // element id of the cell's img (imgcell-ROW-RUN)
	Src, Full template.URL // Full: the full-size image when Src is a thumbnail
	Alt, Size string
	Problem   string // shown instead of the image (standalone report: the blob is missing or damaged)
}

type imageView struct {
	Name  string
	Cells []imageCell
}

// imageChoice is one image the image comparison can open: every image of every compared run.
type imageChoice struct {
	Label string
	Src   template.URL // full size: /artifacts/SHA, or a data: URI in the standalone report
	SelA  bool
	SelB  bool
}

type compareView struct {
	page
	Choices        []imageChoice
	OneRun         bool
	IDs, IDsSpaced string
	Runs           []runView
	MetricKeys     []string
	Groups         []chartGroupView
	Params         []paramView
	NDiffer        int
	Images         []imageView
}

// compareView builds the compare page; images are linked (/artifacts/…) or, when standalone, read from
// the artifact store and inlined as data: URIs.
func (s *Server) compareView(c *Comparison, standalone bool) (*compareView, error) {
	title := fmt.Sprintf("Compare %d runs", len(c.Runs))
	v := &compareView{page: s.newPage(title, len(c.Keys) > 0, standalone), NDiffer: c.NDiffer}
	ids := make([]string, len(c.Runs))
	for i, r := range c.Runs {
		ids[i] = r.ID
	}
	v.IDs, v.IDsSpaced = strings.Join(ids, ","), strings.Join(ids, " ")
	v.MetricKeys = metricKeys(c.Runs)
	if len(v.MetricKeys) > MaxMetricColumns {
		v.MetricKeys = v.MetricKeys[:MaxMetricColumns]
	}
	now := time.Now()
	for _, r := range c.Runs {
		v.Runs = append(v.Runs, newRunView(r, v.MetricKeys, now))
	}
	var err error
	if v.Groups, err = chartGroupViews(charts.CompareGroups(c.Keys, c.Series, len(c.Runs), charts.WithMaxPoints(s.comparePoints(len(c.Runs))))); err != nil {
		return nil, err
	}
	for _, p := range c.Params {
		pv := paramView{Key: p.Key, Differ: p.Differ}
		for i := range p.Values {
			pv.Cells = append(pv.Cells, cellView{p.Values[i], !p.Present[i]})
		}
		v.Params = append(v.Params, pv)
	}
	for _, row := range c.Images {
		iv := imageView{Name: row.Name}
		for i, a := range row.Artifacts {
			cell := imageCell{Alt: row.Name + " of " + charts.RunLabel(c.Runs[i]), ID: fmt.Sprintf("imgcell-%d-%d", len(v.Images), i)}
			if a != nil {
				cell.Size = fmtSize(a.Size)
				cell.Src = template.URL("/artifacts/" + a.SHA256)
				if !standalone && len(c.Runs) > CompareThumbsOver {
					cell.Src, cell.Full = template.URL("/thumbs/"+a.SHA256), cell.Src
				}
				if standalone {
					uri, problem, err := s.dataURI(a)
					if err != nil {
						return nil, err
					}
					cell.Src, cell.Problem = uri, problem
				}
			}
			iv.Cells = append(iv.Cells, cell)
		}
		v.Images = append(v.Images, iv)
	}
	v.OneRun = len(c.Runs) == 1
	v.Choices = imageChoices(c, v.Images, standalone)
	if len(v.Choices) >= 2 {
		v.PageScripts = pageScripts(standalone, "imgcompare.js")
	}
	return v, nil
}

// imageChoices lists every image of the comparison (run by run, in the image rows' order) for the image
// comparison: A is the first run's output.png (else its first image), B the same image of the next run that
// has it (else the next image).
//
// A choice's Src is the full-size image's URL, or, standalone, "#" + the id of the cell's img, whose data: URI
// the script reads (so that the report holds each image once).
func imageChoices(c *Comparison, rows []imageView, standalone bool) []imageChoice {
	var out []imageChoice
	for i, r := range c.Runs {
		for j, row := range c.Images {
			a, cell := row.Artifacts[i], rows[j].Cells[i]
			if a == nil || cell.Problem != "" {
				continue
			}
			src := cell.Src
			if cell.Full != "" {
				src = cell.Full
			}
			if standalone {
				src = template.URL("#" + cell.ID)
			}
			out = append(out, imageChoice{Label: charts.RunLabel(r) + " · " + row.Name, Src: src})
		}
	}
	if len(out) < 2 {
		return out
	}
	a, prefix := 0, charts.RunLabel(c.Runs[0])+" · "
	for k, ch := range out {
		if ch.Label == prefix+"output.png" {
			a = k
			break
		}
	}
	out[a].SelA = true
	name := strings.TrimPrefix(out[a].Label, prefix)
	b := (a + 1) % len(out)
	if len(c.Runs) > 1 {
		for k := range out {
			if k != a && strings.HasSuffix(out[k].Label, " · "+name) {
				b = k
				break
			}
		}
	}
	out[b].SelB = true
	return out
}

// dataURI reads an image artifact from the store as a data: URI (media type checked against the bytes).
// An image that cannot be shown — its blob missing, its bytes no longer matching its SHA-256, or not an
// image — gives a problem text for a placeholder instead, as the live page shows the other images.
func (s *Server) dataURI(a *tracker.Artifact) (uri template.URL, problem string, err error) {
	data, err := readVerified(s.st, a.SHA256)
	switch {
	case errors.Is(err, tracker.ErrNotFound):
		return "", fmt.Sprintf("image %s (sha256 %s) is missing from the artifact store", a.Name, charts.ShortID(a.SHA256)), nil
	case errors.Is(err, tracker.ErrDamaged):
		return "", fmt.Sprintf("image %s (sha256 %s) is damaged: its bytes no longer match its SHA-256", a.Name, charts.ShortID(a.SHA256)), nil
	case err != nil:
		return "", "", fmt.Errorf("reading image %q from the artifact store: %w", a.Name, err)
	}
	mt := http.DetectContentType(data)
	if !isImage(mt) {
		return "", fmt.Sprintf("artifact %s is recorded as %s but its bytes are %s", a.Name, a.MediaType, mt), nil
	}
	return template.URL("data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(data)), "", nil
}

// readVerified reads a blob and checks its bytes against its SHA-256 (tracker.ErrDamaged when they differ).
func readVerified(st Store, sum string) ([]byte, error) {
	path, err := st.ArtifactPath(sum)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("artifact %s is %w: its bytes no longer match its SHA-256", sum, tracker.ErrDamaged)
	}
	return data, nil
}

func (s *Server) comparePage(w http.ResponseWriter, r *http.Request) {
	ids := compareIDs(r.URL.Query())
	if len(ids) == 0 {
		httpError(w, r, http.StatusBadRequest, "choose runs to compare: tick them in the runs table (/) or open /compare?ids=ID,ID")
		return
	}
	if len(ids) > MaxCompare {
		httpError(w, r, http.StatusBadRequest, "too many runs to compare: %d (at most %d)", len(ids), MaxCompare)
		return
	}
	c, err := CompareSampled(s.st, ids, s.comparePoints(len(ids)))
	if err != nil {
		httpError(w, r, lookupStatus(err), "%v", err)
		return
	}
	v, err := s.compareView(c, false)
	if err != nil {
		httpError(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	render(w, r, http.StatusOK, "compare", v)
}

// WriteCompareReport writes the compare page for the runs as one self-contained HTML file: ECharts, the
// stylesheet and the chart data inlined, images inlined as data: URIs; it opens offline without a server.
// o.Source is shown in the header (e.g. the database path).
func WriteCompareReport(w io.Writer, st Store, ids []string, o Options) error {
	o.CachePoints = -1 // one use: nothing to cache
	s := New(st, o)
	c, err := CompareSampled(s.st, ids, s.comparePoints(len(ids)))
	if err != nil {
		return err
	}
	v, err := s.compareView(c, true)
	if err != nil {
		return err
	}
	return pages["compare"].ExecuteTemplate(w, "layout", v)
}

// imgcompareJS draws the compare page's image comparison (#imgcmp): side by side, slider, flip, difference.
//
//go:embed static/imgcompare.js
var imgcompareJS []byte
