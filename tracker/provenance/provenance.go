// Package provenance gathers what must be known to reproduce or trust a run: the code (git commit, dirty
// flag and diff, Go and module versions), the machine (host, OS, architecture, cores), the invocation
// (command line or notebook), and the inputs (SHA-256 of every input file, of the loss-network weights,
// the seed and the resolved configuration).
//
// Collect fills what the process can find out by itself; the caller fills the fields only it knows
// (backend, device, weights, seed, config, notebook) and adds input files with AddFile. The tracker stores
// a Record with (*tracker.Run).RecordProvenance: flattened into tags by Tags, the whole record as
// provenance.json, and the git diff as git.diff.
package provenance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Module is one Go module linked into the binary.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Sum     string `json:"sum,omitempty"`
	Replace string `json:"replace,omitempty"` // path@version it was replaced by
}

// Git describes the source tree the process runs in.
type Git struct {
	Root   string `json:"root"`
	Commit string `json:"commit"`           // full hash of HEAD; empty in a repository without commits
	Branch string `json:"branch,omitempty"` // empty when HEAD is detached
	Dirty  bool   `json:"dirty"`            // tracked changes or untracked files exist
	Status string `json:"status,omitempty"` // `git status --porcelain` output
	// Diff is `git diff HEAD` (staged and unstaged changes of tracked files), cut at MaxDiff bytes.
	Diff          string `json:"-"`
	DiffTruncated bool   `json:"diff_truncated,omitempty"`
	DiffSHA256    string `json:"diff_sha256,omitempty"` // of Diff as stored
}

// Input is one input file and its hash.
type Input struct {
	Role   string `json:"role"` // what the file is for: "content", "style[0]", "weights", ...
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Record is the provenance of one run. Fields marked "caller" are not filled by Collect.
type Record struct {
	Time        time.Time `json:"time"`
	GoVersion   string    `json:"go_version"`
	MainModule  Module    `json:"main_module"`
	Modules     []Module  `json:"modules,omitempty"`
	Build       []string  `json:"build,omitempty"` // build settings as key=value (vcs.revision, CGO_ENABLED, ...)
	Host        string    `json:"host"`
	OS          string    `json:"os"`
	Arch        string    `json:"arch"`
	Cores       int       `json:"cores"`
	CommandLine []string  `json:"command_line"`
	WorkDir     string    `json:"work_dir"`

	Git       *Git   `json:"git,omitempty"`
	GitAbsent string `json:"git_absent,omitempty"` // why Git is nil: "not a git repository", "git not installed", ...

	Inputs        []Input         `json:"inputs,omitempty"`
	Seed          *uint64         `json:"seed,omitempty"`           // caller
	Backend       string          `json:"backend,omitempty"`        // caller: GoMLX backend name and config
	Device        string          `json:"device,omitempty"`         // caller: e.g. "CPU", "NVIDIA H100"
	WeightsSource string          `json:"weights_source,omitempty"` // caller: "random(seed=1)" or "file:PATH"
	WeightsSHA256 string          `json:"weights_sha256,omitempty"` // caller
	Notebook      string          `json:"notebook,omitempty"`       // caller: notebook name when run from one
	Config        json.RawMessage `json:"config,omitempty"`         // caller: the resolved configuration as JSON

	// WeightsNet, WeightsLayout (layout: input convention) and WeightsFileSHA256 (the file's bytes) describe a
	// weights file (caller; empty for stylelab's seeded random VGG-19).
	WeightsNet        string `json:"weights_net,omitempty"`
	WeightsLayout     string `json:"weights_layout,omitempty"`
	WeightsFileSHA256 string `json:"weights_file_sha256,omitempty"`
}

// Options control Collect.
type Options struct {
	Dir        string        // where to look for a git repository; "" = the working directory
	GitTimeout time.Duration // for each git command; 0 = 5 s
	NoGit      bool          // skip git entirely (GitAbsent says so)
	MaxDiff    int           // bytes of diff kept; 0 = 8 MiB
}

// Collect gathers the facts about the code, the machine and the invocation. It never fails: what cannot be
// found is left empty (a missing git is recorded in GitAbsent).
func Collect(opts Options) Record {
	r := Record{
		Time:        time.Now().UTC(),
		GoVersion:   runtime.Version(),
		OS:          runtime.GOOS,
		Arch:        runtime.GOARCH,
		Cores:       runtime.NumCPU(),
		CommandLine: append([]string(nil), os.Args...),
	}
	r.Host, _ = os.Hostname()
	r.WorkDir, _ = os.Getwd()
	if bi, ok := debug.ReadBuildInfo(); ok {
		r.MainModule = module(&bi.Main)
		if bi.GoVersion != "" {
			r.GoVersion = bi.GoVersion
		}
		for _, d := range bi.Deps {
			r.Modules = append(r.Modules, module(d))
		}
		for _, s := range bi.Settings {
			r.Build = append(r.Build, s.Key+"="+s.Value)
		}
	}
	if opts.NoGit {
		r.GitAbsent = "not collected (NoGit)"
	} else {
		r.Git, r.GitAbsent = collectGit(opts)
	}
	return r
}

func module(m *debug.Module) Module {
	mod := Module{Path: m.Path, Version: m.Version, Sum: m.Sum}
	if m.Replace != nil {
		mod.Replace = m.Replace.Path + "@" + m.Replace.Version
	}
	return mod
}

// collectGit runs git in opts.Dir. It returns (nil, reason) when there is no usable repository.
func collectGit(opts Options) (*Git, string) {
	timeout := opts.GitTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	maxDiff := opts.MaxDiff
	if maxDiff <= 0 {
		maxDiff = 8 << 20
	}
	if _, err := exec.LookPath("git"); err != nil {
		return nil, "git not installed"
	}
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = opts.Dir
		// Never prompt, never page, never read a user's external diff driver.
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_PAGER=cat", "GIT_OPTIONAL_LOCKS=0")
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("git %s timed out after %v", args[0], timeout)
			}
			return "", fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		return out.String(), nil
	}
	root, err := run("rev-parse", "--show-toplevel")
	if err != nil {
		if strings.Contains(err.Error(), "not a git repository") {
			return nil, "not a git repository"
		}
		return nil, err.Error()
	}
	g := &Git{Root: strings.TrimSpace(root)}
	if c, err := run("rev-parse", "--verify", "--quiet", "HEAD"); err == nil {
		g.Commit = strings.TrimSpace(c)
	}
	if b, err := run("symbolic-ref", "--quiet", "--short", "HEAD"); err == nil {
		g.Branch = strings.TrimSpace(b)
	}
	if st, err := run("status", "--porcelain"); err == nil {
		g.Status = st
		g.Dirty = strings.TrimSpace(st) != ""
	}
	if g.Commit != "" {
		if d, err := run("diff", "HEAD", "--no-color", "--no-ext-diff", "--binary"); err == nil {
			if len(d) > maxDiff {
				d = d[:maxDiff]
				g.DiffTruncated = true
			}
			g.Diff = d
		}
	}
	if g.Diff != "" {
		sum := sha256.Sum256([]byte(g.Diff))
		g.DiffSHA256 = hex.EncodeToString(sum[:])
	}
	return g, ""
}

// HashFile returns the hex SHA-256 of the file's bytes and its size.
func HashFile(path string) (sum string, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("hash input: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash input %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// AddFile hashes the file at path and records it as an input with the given role (the file's base name
// when role is empty). Paths are recorded as given, made absolute when possible.
func (r *Record) AddFile(role, path string) error {
	sum, size, err := HashFile(path)
	if err != nil {
		return err
	}
	if role == "" {
		role = filepath.Base(path)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	r.Inputs = append(r.Inputs, Input{Role: role, Path: path, SHA256: sum, Size: size})
	return nil
}

// SetConfig stores v, marshalled to JSON, as the resolved configuration.
func (r *Record) SetConfig(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("provenance config: %w", err)
	}
	r.Config = b
	return nil
}

// SetSeed records the run's seed.
func (r *Record) SetSeed(seed uint64) { r.Seed = &seed }

// Prefix starts the name of every tag produced by Tags.
const Prefix = "provenance."

// Tags flattens the record into tags named provenance.* (values are strings; lists are one item a line):
//
//	provenance.time, .go_version, .main_module, .modules, .build, .host, .os, .arch, .cores,
//	.command_line, .work_dir, .git.root, .git.commit, .git.branch, .git.dirty, .git.diff_sha256,
//	.git (the reason when absent), .input.ROLE.sha256, .input.ROLE.path, .input.ROLE.size, .seed,
//	.backend, .device, .weights.source, .weights.sha256, .notebook, .config
//
// Empty fields give no tag.
func (r Record) Tags() map[string]string {
	t := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			t[Prefix+k] = v
		}
	}
	if !r.Time.IsZero() {
		set("time", r.Time.UTC().Format(time.RFC3339Nano))
	}
	set("go_version", r.GoVersion)
	if r.MainModule.Path != "" {
		set("main_module", r.MainModule.Path+" "+r.MainModule.Version)
	}
	mods := make([]string, 0, len(r.Modules))
	for _, m := range r.Modules {
		s := m.Path + " " + m.Version
		if m.Replace != "" {
			s += " => " + m.Replace
		}
		mods = append(mods, s)
	}
	sort.Strings(mods)
	set("modules", strings.Join(mods, "\n"))
	set("build", strings.Join(r.Build, "\n"))
	set("host", r.Host)
	set("os", r.OS)
	set("arch", r.Arch)
	if r.Cores > 0 {
		set("cores", strconv.Itoa(r.Cores))
	}
	set("command_line", ShellJoin(r.CommandLine))
	set("work_dir", r.WorkDir)
	if r.Git != nil {
		set("git.root", r.Git.Root)
		set("git.commit", r.Git.Commit)
		set("git.branch", r.Git.Branch)
		set("git.dirty", strconv.FormatBool(r.Git.Dirty))
		set("git.diff_sha256", r.Git.DiffSHA256)
	} else {
		set("git", "absent: "+r.GitAbsent)
	}
	for _, in := range r.Inputs {
		set("input."+in.Role+".sha256", in.SHA256)
		set("input."+in.Role+".path", in.Path)
		set("input."+in.Role+".size", strconv.FormatInt(in.Size, 10))
	}
	if r.Seed != nil {
		set("seed", strconv.FormatUint(*r.Seed, 10))
	}
	set("backend", r.Backend)
	set("device", r.Device)
	set("weights.source", r.WeightsSource)
	set("weights.sha256", r.WeightsSHA256)
	set("weights.net", r.WeightsNet)
	set("weights.layout", r.WeightsLayout)
	set("notebook", r.Notebook)
	set("config", string(r.Config))
	return t
}

// JSON is the whole record, indented (the git diff itself is stored separately as git.diff).
func (r Record) JSON() []byte {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		// Only Config can fail (invalid RawMessage); keep everything else.
		r.Config = nil
		b, _ = json.MarshalIndent(r, "", "  ")
	}
	return b
}

// ShellJoin quotes args so that a POSIX shell would split the result back into the same words.
func ShellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ':' || r == ',' || r == '+' || r == '@' ||
				('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9'))
		}) < 0 {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
