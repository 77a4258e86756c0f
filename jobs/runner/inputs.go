package runner

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/stylelab/stylelab/experiments/safefile"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
)

// Stored inputs: a recorded run keeps copies of the images it read, so that its page shows them beside its
// output and a rerun on another machine finds them in the tracker when the original paths are gone.
//
// The copies are artifacts like any other (content-addressed: an image read by a hundred runs is stored
// once) named InputPrefix + role + the extension of the bytes' media type (.png, .jpg, .gif, .webp, .bmp,
// .tiff; else the file's own): inputs/content.png, inputs/style-0.jpg (the spec's style index),
// inputs/mask.png, inputs/region-style-0.png. A training run's folder of photos is copied only when asked
// (Options.StoreInputs, CLI --store-inputs), as inputs/content_dir/<path inside the folder>; its manifest of
// paths and hashes is in spec.json either way. Checkpoints (model, resume) and weights are not copied.

// InputPrefix starts the names of the stored input artifacts.
const InputPrefix = "inputs/"

// MaxStoredInput is the largest input file stored with a run (bytes); a larger one is not copied and the
// run's InputsSkippedTag says so.
const MaxStoredInput int64 = 64 << 20

// InputsSkippedTag lists the inputs that were not stored (role, size), "; "-separated.
const InputsSkippedTag = "inputs.skipped"

// storedInput is one input a run stores: its role (the artifact name without prefix and extension) and
// the spec's Input.
type storedInput struct {
	role string
	in   *spec.Input
}

// inputsToStore lists the image inputs of sp that are stored: content, styles, mask and region styles.
func inputsToStore(sp *spec.Spec) []storedInput {
	var out []storedInput
	add := func(role string, in *spec.Input) {
		if in != nil && in.Path != "" {
			out = append(out, storedInput{role, in})
		}
	}
	add("content", &sp.Inputs.Content)
	for i := range sp.Inputs.Styles {
		add(fmt.Sprintf("style-%d", i), &sp.Inputs.Styles[i])
	}
	add("mask", sp.Inputs.Mask)
	for i := range sp.Inputs.RegionStyles {
		add(fmt.Sprintf("region-style-%d", i), &sp.Inputs.RegionStyles[i])
	}
	return out
}

// inputExt is the extension of media type mt, else the file's lower-case extension, ".img" when it has none.
func inputExt(mt, path string) string {
	switch mt {
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "image/bmp":
		return ".bmp"
	case "image/tiff":
		return ".tiff"
	}
	e := strings.ToLower(filepath.Ext(path))
	if e == "" || len(e) > 6 {
		return ".img"
	}
	return e
}

// recordInputs stores the run's input images as artifacts (streamed from their files, so memory does not
// grow with their size). A file over MaxStoredInput is skipped and named in InputsSkippedTag; a file whose
// bytes no longer have the SHA-256 the spec recorded when it was prepared is an error (it changed while the
// run started), as is a failed write.
func recordInputs(run *tracker.Run, sp *spec.Spec, folder bool) error {
	var skipped []string
	all := inputsToStore(sp)
	if folder {
		all = append(all, folderInputs(sp)...)
	}
	for _, s := range all {
		path := sp.FilePath(s.in.Path)
		f, st, err := safefile.Open(path)
		if err != nil {
			return fmt.Errorf("storing input %s with the run: %w", s.in.Path, err)
		}
		head := make([]byte, 512)
		n, _ := io.ReadFull(f, head)
		f.Close()
		mt := http.DetectContentType(head[:n])
		name := InputPrefix + s.role + inputExt(mt, s.in.Path)
		if strings.HasPrefix(s.role, contentDirRole) {
			name = InputPrefix + s.role // the photo's own name inside the folder
		}
		if st.Size() > MaxStoredInput {
			skipped = append(skipped, fmt.Sprintf("%s (%s: %d MiB > %d MiB)", strings.TrimPrefix(name, InputPrefix), s.in.Path, st.Size()>>20, MaxStoredInput>>20))
			continue
		}
		a, err := run.LogArtifactFile(name, mt, path)
		if err != nil {
			return fmt.Errorf("storing input %s with the run as %s: %w", s.in.Path, name, err)
		}
		if s.in.SHA256 != "" && a.SHA256 != s.in.SHA256 {
			return fmt.Errorf("input %s changed while the run started: stored SHA-256 %.12s, hashed %.12s when the run was prepared (do not edit inputs during a run)", s.in.Path, a.SHA256, s.in.SHA256)
		}
	}
	if len(skipped) > 0 {
		return run.SetTag(InputsSkippedTag, "not stored, larger than the limit: "+strings.Join(skipped, "; "))
	}
	return nil
}

// restoreInputs points every stored input of sp whose file is missing at its copy in the store (the blob
// of artifact inputs/… of run runID, whose bytes have the recorded SHA-256), and returns one sentence per
// input restored (the rerun's verdict and warnings carry them). An
// input whose file is missing and that has no stored copy (runs recorded before inputs were stored, or a
// skipped one) is left for Prepare to report.
func restoreInputs(s *tracker.Store, runID string, sp *spec.Spec, tmp func() (string, error)) ([]string, error) {
	arts, err := s.Artifacts(runID)
	if err != nil {
		return nil, err
	}
	var said []string
	if m, err := restoreFolder(s, runID, sp, arts, tmp); err != nil {
		return nil, err
	} else if m != "" {
		said = append(said, m)
	}
	byRole := map[string]tracker.Artifact{} // inputs/content.png → "content"
	for _, a := range arts {
		if strings.HasPrefix(a.Name, InputPrefix) {
			byRole[strings.TrimSuffix(strings.TrimPrefix(a.Name, InputPrefix), filepath.Ext(a.Name))] = a
		}
	}
	for _, in := range inputsToStore(sp) {
		if _, err := os.Stat(sp.FilePath(in.in.Path)); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		a, ok := byRole[in.role]
		if !ok || (in.in.SHA256 != "" && a.SHA256 != in.in.SHA256) {
			continue
		}
		blob, err := s.ArtifactPath(a.SHA256)
		if err != nil {
			return nil, fmt.Errorf("input %s is missing and its stored copy %s cannot be found: %w", in.in.Path, a.Name, err)
		}
		said = append(said, fmt.Sprintf("%s is missing: using the copy stored with run %s (%s, sha256 %.12s)", in.in.Path, short(runID), a.Name, a.SHA256))
		in.in.Path = blob
	}
	return said, nil
}

// contentDirRole starts the role of a training folder's photo: content_dir/<its path inside the folder>.
const contentDirRole = "content_dir/"

// folderInputs lists the photos of a training run's content folder, each with its path inside the folder.
func folderInputs(sp *spec.Spec) []storedInput {
	d := sp.Inputs.ContentDir
	if d == nil {
		return nil
	}
	var out []storedInput
	for i := range d.Files {
		rel, err := filepath.Rel(d.Path, d.Files[i].Path)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			rel = filepath.Base(d.Files[i].Path)
		}
		out = append(out, storedInput{contentDirRole + filepath.ToSlash(rel), &d.Files[i]})
	}
	return out
}

// restoreFolder rebuilds a training run's content folder from its stored copy when the folder is gone: every
// recorded photo must have a stored copy with its SHA-256 (else nothing is restored and Prepare reports the
// missing folder). The photos are copied into a fresh folder under tmp, with their recorded names, and the spec
// points at it; the caller removes tmp.
func restoreFolder(s *tracker.Store, runID string, sp *spec.Spec, arts []tracker.Artifact, tmp func() (string, error)) (string, error) {
	d := sp.Inputs.ContentDir
	if d == nil || len(d.Files) == 0 {
		return "", nil
	}
	if _, err := os.Stat(sp.FilePath(d.Path)); !errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	byName := map[string]tracker.Artifact{}
	for _, a := range arts {
		byName[a.Name] = a
	}
	ins := folderInputs(sp)
	for _, in := range ins {
		if a, ok := byName[InputPrefix+in.role]; !ok || (in.in.SHA256 != "" && a.SHA256 != in.in.SHA256) {
			return "", nil
		}
	}
	dir, err := tmp()
	if err != nil {
		return "", err
	}
	for _, in := range ins {
		a := byName[InputPrefix+in.role]
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(in.role, contentDirRole)))
		data, err := s.ReadArtifact(a.SHA256) // checks the blob's hash
		if err != nil {
			return "", fmt.Errorf("content folder %s is missing and the stored copy of %s cannot be read: %w", d.Path, in.in.Path, err)
		}
		if err := safefile.WriteFile(dst, data); err != nil {
			return "", err
		}
		in.in.Path = dst
	}
	old := d.Path
	d.Path = dir
	return fmt.Sprintf("content folder %s is missing: using the %d photos stored with run %s", old, len(ins), short(runID)), nil
}
