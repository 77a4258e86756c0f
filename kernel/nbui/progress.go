package nbui

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/stylelab/stylelab/tracker/format"
)

// Progress is a live progress bar: one notebook display updated in place (gonbui.UpdateHTML) as steps complete,
// at most once per Every so a fast loop does not flood the notebook; the saved notebook keeps its final state.
// Outside a notebook it prints a text line to Out at most once per TextEvery, and always the last one.
type Progress struct {
	Title     string
	Total     int           // number of steps (0: unknown)
	Every     time.Duration // notebook refresh interval (default 250 ms)
	TextEvery time.Duration // text line interval outside a notebook (default 5 s)

	mu       sync.Mutex
	id       string
	start    time.Time
	lastShow time.Time
	step     int
	values   map[string]float64
	now      func() time.Time // for tests
}

// NewProgress starts a progress bar for total steps and shows it at step 0.
func NewProgress(title string, total int) *Progress {
	p := &Progress{Title: title, Total: total}
	p.init()
	p.render(stateRunning, true)
	return p
}

func (p *Progress) init() {
	if p.now == nil {
		p.now = time.Now
	}
	if p.Every == 0 {
		p.Every = 250 * time.Millisecond
	}
	if p.TextEvery == 0 {
		p.TextEvery = 5 * time.Second
	}
	if p.id == "" {
		p.id = "stylelab-progress-" + gonbui.UniqueId()
	}
	if p.start.IsZero() {
		p.start = p.now()
	}
}

// Update records that step steps are done with the given metric values (shown sorted by name, "total" first),
// and refreshes the display when Every has passed since the last refresh or the last step is reached.
func (p *Progress) Update(step int, values map[string]float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	p.step = step
	if values != nil {
		p.values = values
	}
	p.render(stateRunning, p.Total > 0 && step >= p.Total)
}

// Done shows the final state (always, regardless of throttling), green.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	p.render(stateDone, true)
}

// Fail shows the final state in red with the error.
func (p *Progress) Fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	p.render(progressState("failed: "+err.Error()), true)
}

type progressState string

const (
	stateRunning progressState = "running"
	stateDone    progressState = "done"
)

func (p *Progress) render(state progressState, force bool) {
	now := p.now()
	every := p.TextEvery
	if InNotebook {
		every = p.Every
	}
	if !force && now.Sub(p.lastShow) < every {
		return
	}
	p.lastShow = now
	v := p.view(state, now.Sub(p.start))
	if InNotebook {
		gonbui.UpdateHTML(p.id, ProgressHTML(v))
		if state != stateRunning {
			gonbui.Sync() // the final state must reach the notebook before the program exits
		}
		return
	}
	fmt.Fprintln(Out, ProgressText(v))
}

// ProgressView is what one rendering of a progress bar shows.
type ProgressView struct {
	Title       string
	Step, Total int
	Elapsed     time.Duration
	State       string // "running", "done" or "failed: …"
	Values      []NamedValue
}

// NamedValue is one metric shown beside a progress bar.
type NamedValue struct {
	Name  string
	Value float64
}

// Percent is 100·Step/Total clamped to [0,100] (0 when Total is unknown).
func (v ProgressView) Percent() float64 {
	if v.Total <= 0 {
		return 0
	}
	return math.Max(0, math.Min(100, 100*float64(v.Step)/float64(v.Total)))
}

// ETA is the remaining time assuming the remaining steps take as long as the done ones: Elapsed·(Total−Step)/Step.
func (v ProgressView) ETA() (time.Duration, bool) {
	if v.Step <= 0 || v.Total <= 0 || v.Step >= v.Total {
		return 0, false
	}
	return time.Duration(float64(v.Elapsed) * float64(v.Total-v.Step) / float64(v.Step)), true
}

func (p *Progress) view(state progressState, elapsed time.Duration) ProgressView {
	v := ProgressView{Title: p.Title, Step: p.step, Total: p.Total, Elapsed: elapsed, State: string(state)}
	if state == stateDone && p.Total > 0 && p.step == 0 {
		v.Step = p.Total
	}
	for k, x := range p.values {
		v.Values = append(v.Values, NamedValue{k, x})
	}
	sort.Slice(v.Values, func(i, j int) bool {
		a, b := v.Values[i].Name, v.Values[j].Name
		if (a == "total") != (b == "total") {
			return a == "total"
		}
		return a < b
	})
	return v
}

// ProgressHTML renders v as a bar with the title, step count, elapsed time, ETA and values.
func ProgressHTML(v ProgressView) string {
	color := "#3b7dd8"
	switch {
	case v.State == string(stateDone):
		color = "#2e9b4f"
	case strings.HasPrefix(v.State, "failed"):
		color = "#c8372d"
	}
	eta, ok := v.ETA()
	etaS := ""
	if ok && v.State == string(stateRunning) {
		etaS = "ETA " + roundDur(eta)
	}
	vals := make([]string, len(v.Values))
	for i, nv := range v.Values {
		vals[i] = nv.Name + "=" + FormatFloat(nv.Value)
	}
	return mustExec(progressTpl, map[string]any{
		"Title": v.Title, "Step": v.Step, "Total": v.Total, "Pct": fmt.Sprintf("%.1f", v.Percent()),
		"Elapsed": roundDur(v.Elapsed), "ETA": etaS, "State": v.State, "Color": color, "Values": strings.Join(vals, "  "),
	})
}

// ProgressText renders v as one line: "title  12/20  60%  3.1s  running  total=1.2 …".
func ProgressText(v ProgressView) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %d/%d  %.0f%%  %s  %s", v.Title, v.Step, v.Total, v.Percent(), roundDur(v.Elapsed), v.State)
	for _, nv := range v.Values {
		fmt.Fprintf(&b, "  %s=%s", nv.Name, FormatFloat(nv.Value))
	}
	return b.String()
}

// FormatFloat writes x as every surface shows a metric value: format.Value (4 significant digits, NaN and
// ±Inf spelled out).
func FormatFloat(x float64) string { return format.Value(x) }

// roundDur is format.Duration, the one duration formatter.
func roundDur(d time.Duration) string { return format.Duration(d) }
