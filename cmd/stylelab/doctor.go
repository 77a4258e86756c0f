package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/vgg"
)

func init() {
	register(&command{name: "doctor", summary: "show the compute backend chosen and why, and prove it runs", run: runDoctor})
}

// doctorReport is what `stylelab doctor --json` prints.
type doctorReport struct {
	Backend      backend.Info `json:"backend"`
	Device       string       `json:"device"` // backend.Info.Device: what every recorded run stores as provenance.device
	GoMLXVersion string       `json:"gomlx_version"`
	GoVersion    string       `json:"go_version"`
	GOOS         string       `json:"goos"`
	GOARCH       string       `json:"goarch"`
	CPUs         int          `json:"cpus"`
	VGGWeights   string       `json:"vgg_weights"` // what `run` uses without --weights
	SelfTest     struct {
		OK      bool    `json:"ok"`
		Seconds float64 `json:"seconds"`
		Error   string  `json:"error,omitempty"`
	} `json:"self_test"`
}

// gomlxVersion returns the GoMLX module version compiled into this binary, from its build information.
func gomlxVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/gomlx/gomlx" {
			if d.Replace != nil {
				return d.Version + " => " + d.Replace.Path + " " + d.Replace.Version
			}
			return d.Version
		}
	}
	return "unknown (not in build information)"
}

// doctor builds the report: it creates the backend and runs a tiny computation on it.
func doctor() doctorReport {
	var r doctorReport
	r.GoMLXVersion = gomlxVersion()
	r.GoVersion = runtime.Version()
	r.GOOS, r.GOARCH, r.CPUs = runtime.GOOS, runtime.GOARCH, runtime.NumCPU()
	if p := os.Getenv(vgg.EnvWeights); p != "" {
		r.VGGWeights = fmt.Sprintf("file %s (from $%s)", p, vgg.EnvWeights)
	} else {
		r.VGGWeights = fmt.Sprintf("seeded random VGG-19 (no --weights and no $%s)", vgg.EnvWeights)
	}
	b, info, err := backend.New()
	r.Backend = info
	r.Device = backend.Current().Device()
	if err != nil {
		r.SelfTest.Error = "not run: the backend could not be created: " + err.Error()
		return r
	}
	d, err := backend.SelfTest(b)
	if err != nil {
		r.SelfTest.Error = err.Error()
		return r
	}
	r.SelfTest.OK, r.SelfTest.Seconds = true, d.Seconds()
	return r
}

func printDoctor(w io.Writer, r doctorReport) {
	fmt.Fprintf(w, "device:      %s\n", r.Device)
	fmt.Fprintf(w, "backend:     %s (%s)\n", r.Backend.Name, r.Backend.Config)
	fmt.Fprintf(w, "  why:       %s\n", r.Backend.Reason)
	if r.Backend.PluginPath != "" {
		fmt.Fprintf(w, "  plugin:    %s\n", r.Backend.PluginPath)
	}
	if m := r.Backend.Matmul; m != nil {
		fmt.Fprintf(w, "  matmul:    %s\n", m)
		if m.Library != "" {
			fmt.Fprintf(w, "  library:   %s\n", m.Library)
		}
		fmt.Fprintf(w, "  cpu:       %s [%s]\n", m.CPU, strings.Join(m.Features, " "))
		fmt.Fprintf(w, "  engine:    %s\n", m.Reason)
	}
	fmt.Fprintf(w, "gomlx:       %s\n", r.GoMLXVersion)
	fmt.Fprintf(w, "go:          %s %s/%s, %d CPUs\n", r.GoVersion, r.GOOS, r.GOARCH, r.CPUs)
	fmt.Fprintf(w, "vgg weights: %s\n", r.VGGWeights)
	if r.SelfTest.OK {
		fmt.Fprintf(w, "self-test:   ok, sum([1,2,3]²) = 14 in %.3fs\n", r.SelfTest.Seconds)
	} else {
		fmt.Fprintf(w, "self-test:   FAILED (see below)\n")
	}
}

func runDoctor(args []string) error {
	fs := newFlags("doctor")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: stylelab doctor [--json]\n\nShows which GoMLX backend stylelab uses and why (GOMLX_BACKEND, PJRT_PLUGIN_LIBRARY_PATH and the\nstandard plugin folders decide), the versions, and runs a tiny computation on the backend. Exit 1 if it fails.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("doctor takes no arguments (got %q)", fs.Args())
	}
	r := doctor()
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		printDoctor(os.Stdout, r)
	}
	if !r.SelfTest.OK {
		if *asJSON {
			return reportedError{errors.New(r.SelfTest.Error)} // the JSON report above says it failed
		}
		return errors.New(r.SelfTest.Error)
	}
	return nil
}
