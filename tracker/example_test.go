package tracker_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/format"
)

// Open a store, record two runs with params and per-step metrics, and search them with a filter and an
// order-by (the syntax of docs/filter.md). tracker.Open takes a file path or a postgres:// URL.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "stylelab-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := tracker.Open(filepath.Join(dir, "stylelab.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	for _, lr := range []string{"0.1", "0.01"} {
		run, err := s.StartRun("gatys", "lr-"+lr, tracker.WithoutProvenance())
		if err != nil {
			log.Fatal(err)
		}
		if err := run.LogParams(map[string]string{"loss": "gram", "lr": lr}); err != nil {
			log.Fatal(err)
		}
		for step := int64(0); step < 3; step++ {
			loss := 1 / float64(step+1)
			if lr == "0.01" {
				loss *= 2
			}
			run.LogMetric("style_loss", step, loss)
		}
		var runErr error // what the work returned: nil ends the run FINISHED
		if err := run.End(&runErr); err != nil {
			log.Fatal(err)
		}
	}

	runs, err := s.Search("params.loss = 'gram' and metrics.style_loss < 1 and status = 'FINISHED'", "metrics.style_loss ASC", 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range runs {
		fmt.Println(r.Name, r.Params["lr"], format.Value(r.Latest["style_loss"]))
	}
	hist, err := s.History(runs[0].ID, "style_loss")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(hist), "points, the last at step", hist[len(hist)-1].Step)
	// Output:
	// lr-0.1 0.1 0.3333
	// lr-0.01 0.01 0.6667
	// 3 points, the last at step 2
}

// Filters are parsed before anything is read: a mistake is a *filter.Error naming its position and the fix.
func ExampleStore_Search_error() {
	dir, _ := os.MkdirTemp("", "stylelab-example-")
	defer os.RemoveAll(dir)
	s, err := tracker.Open(filepath.Join(dir, "stylelab.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	_, err = s.Search("params.lr = 0.1", "", 0)
	fmt.Println(err)
	// Output: filter: params.lr is a string (params and tags are stored as the text logged), so the unquoted number 0.1 is refused: quote it to compare the text, params.lr = '0.1' (a value logged as "0.10" or "1e-1" is other text), or, to compare numbers, log the value as a metric too and filter on metrics.lr = 0.1 (at position 12 in "params.lr = 0.1")
}
