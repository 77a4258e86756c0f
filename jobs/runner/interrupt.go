package runner

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Interrupted is the error of a run stopped by a signal. The run stops at the step boundary after the signal
// arrives: the last completed step's image is the output (written to the spec's output path and logged as
// output.png), and the tracker marks the run KILLED with this error's text (Interrupted wraps
// context.Canceled, which tracker.Run.End records as KILLED). A process that is killed outright (SIGKILL) cannot
// do this; its heartbeat stops and readers mark the run KILLED after the heartbeat timeout.
type Interrupted struct {
	Signal os.Signal
	// Step is the last completed step, whose image was kept (-1 when the run stopped before step 0).
	Step int
	// Kept names what was kept of Step ("" = "its image"; a training run keeps "its checkpoint").
	Kept string
}

func (e *Interrupted) Error() string {
	what := e.Kept
	if what == "" {
		what = "its image"
	}
	kept := fmt.Sprintf("stopped after step %d, %s is kept", e.Step, what)
	if e.Step < 0 {
		kept = "stopped before the first step"
	}
	return fmt.Sprintf("interrupted by %s: %s", signalName(e.Signal), kept)
}

// Unwrap makes errors.Is(err, context.Canceled) true, so tracker.Run.End marks the run KILLED.
func (e *Interrupted) Unwrap() error { return context.Canceled }

// ExitCode is the shell's status for a process ended by the signal: 128 + its number (130 for SIGINT, 143 for
// SIGTERM).
func (e *Interrupted) ExitCode() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return fmt.Sprint(s)
}

// NotifyInterrupt returns a context cancelled, with cause *Interrupted, when the process receives SIGINT or
// SIGTERM (Ctrl-C in a terminal; `kill`; a Jupyter "interrupt" of a notebook cell, which GoNB forwards to the
// cell's program as SIGINT and follows with SIGKILL 5 s later). Pass it as Options.Context. After the first
// signal the default handling is restored, so a second Ctrl-C ends the process at once. stop releases the
// signals; call it when the run is over.
func NotifyInterrupt(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case s := <-ch:
			signal.Stop(ch)
			cancel(&Interrupted{Signal: s, Step: -1})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
		<-done
	}
}

// interruption returns the error that stops a run at a step boundary once ctx is done (nil while it is not):
// the *Interrupted cause with the last completed step, or ctx's own cause.
func interruption(ctx context.Context, lastStep int) error {
	if ctx == nil || ctx.Err() == nil {
		return nil
	}
	cause := context.Cause(ctx)
	if in, ok := cause.(*Interrupted); ok {
		e := *in
		e.Step = lastStep
		return &e
	}
	return fmt.Errorf("stopped after step %d: %w", lastStep, cause)
}
