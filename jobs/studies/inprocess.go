package studies

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/jobs/sweep"
	"github.com/stylelab/stylelab/tracker"
)

// RunHere executes the study's runs in this process, one after another, as `stylelab run --spec` executes a
// sweep task: the same spec file (specs/NNNN.json), the same tags (sweep.id, sweep.index and the run's study
// tags). Runs already FINISHED are skipped, so calling it again resumes a study. It is the executor of
// notebooks and tests; the CLI's are the sweep's (local worker processes, Slurm). progress, when set, is called
// after each run with the number done, the total to do, and that run's error. ctx stops it between runs and
// inside one at a step boundary (that run ends KILLED). The error joins the failed runs' errors.
func RunHere(ctx context.Context, sw *sweep.Record, st *tracker.Store, progress func(done, total int, err error)) error {
	if ctx == nil {
		ctx = context.Background()
	}
	_, states, err := sw.Status(st, nil)
	if err != nil {
		return err
	}
	todo := sweep.Unfinished(states)
	var errs []error
	for k, i := range todo {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		sp, err := spec.Load(sw.SpecPath(i))
		if err == nil {
			tags := map[string]string{sweep.TagID: sw.ID, sweep.TagIndex: fmt.Sprint(i),
				sweep.TagParams: strings.Join(sw.Params, ","), sweep.TagPaths: strings.Join(sw.Paths, ",")}
			for _, key := range slices.Sorted(maps.Keys(sw.Runs[i].Tags)) {
				tags[key] = sw.Runs[i].Tags[key]
			}
			_, err = runner.Run(sp, runner.Options{Context: ctx, Store: st, Tags: tags})
		}
		if err != nil {
			err = fmt.Errorf("run %d: %w", i, err)
			errs = append(errs, err)
		}
		if progress != nil {
			progress(k+1, len(todo), err)
		}
	}
	return errors.Join(errs...)
}
