package spec

import (
	"errors"
	"fmt"

	"github.com/stylelab/stylelab/experiments/gatys"
)

// KindSpec is the spec side of one run kind: how a spec of that kind is resolved and what of it identifies the
// computation. A kind registers it once, from an init function (RegisterKind); jobs/runner registers the same
// name with the kind's execution (runner.Register). See docs/ARCHITECTURE.md, "Adding a run kind".
type KindSpec struct {
	// Name is the spec's "kind" value ("optimise", "train", …).
	Name string
	// Resolve fills the defaults of the kind's section of s (s.Optimise, s.Train, …) and validates it and the
	// inputs the kind needs, with messages that name the field and the fix. It must not touch files.
	Resolve func(s *Spec) error
	// Section returns the kind's section of s, which enters the spec's Key. It is nil for the five kinds whose
	// sections Key names itself (so that keys recorded before kinds were registered stay the same); every
	// other kind must set it, or two of its specs with different parameters would share a key.
	Section func(s *Spec) any
	// Inputs returns the kind's input files beyond the common ones of Inputs (content, styles, content folder,
	// model, resume, mask, region styles, weights), with their roles: they are hashed, checked on rerun, and
	// recorded in provenance like the others. nil: none.
	Inputs func(s *Spec) []InputRef
}

var kinds = map[string]KindSpec{}

// Kinds lists every kind a spec may name, in registration order (the built-in ones first).
var Kinds []string

// RegisterKind makes k.Name a kind a spec may name. It panics when the name is empty or already registered, or
// when Resolve is nil: these are programming errors, found at start-up.
func RegisterKind(k KindSpec) {
	switch {
	case k.Name == "":
		panic("spec.RegisterKind: empty kind name")
	case k.Resolve == nil:
		panic("spec.RegisterKind: kind " + k.Name + " has no Resolve")
	}
	if _, dup := kinds[k.Name]; dup {
		panic("spec.RegisterKind: kind " + k.Name + " registered twice")
	}
	kinds[k.Name] = k
	Kinds = append(Kinds, k.Name)
}

func init() {
	RegisterKind(KindSpec{Name: KindOptimise, Resolve: resolveOptimise})
	RegisterKind(KindSpec{Name: KindTrain, Resolve: resolveTrain})
	RegisterKind(KindSpec{Name: KindStylize, Resolve: resolveStylize})
	RegisterKind(KindSpec{Name: KindInterpolate, Resolve: resolveInterpolate})
	RegisterKind(KindSpec{Name: KindAdaIN, Resolve: resolveAdaIN})
}

// resolveOptimise: a content image, at least one style image, the optimise block resolved by gatys with the
// spec's seed (gatys.DefaultConfig when absent), and spatial control's mask and region styles paired with
// optimise.region_colours.
func resolveOptimise(s *Spec) error {
	if s.Inputs.Content.Path == "" {
		return errors.New(`spec: inputs.content.path is empty: name the content image`)
	}
	if len(s.Inputs.Styles) == 0 {
		return errors.New(`spec: inputs.styles is empty: name at least one style image`)
	}
	for i, in := range s.Inputs.Styles {
		if in.Path == "" {
			return fmt.Errorf("spec: inputs.styles[%d].path is empty", i)
		}
	}
	if s.Optimise == nil {
		c := gatys.DefaultConfig()
		s.Optimise = &c
	}
	if s.Inputs.Mask != nil && s.Inputs.Mask.Path == "" {
		return errors.New("spec: inputs.mask.path is empty: name the mask image, or drop inputs.mask")
	}
	if len(s.Inputs.RegionStyles) != len(s.Optimise.RegionColours) {
		return fmt.Errorf("spec: %d inputs.region_styles for %d optimise.region_colours: pair each colour with one image", len(s.Inputs.RegionStyles), len(s.Optimise.RegionColours))
	}
	if len(s.Inputs.RegionStyles) > 0 && s.Inputs.Mask == nil {
		return errors.New("spec: inputs.region_styles need inputs.mask (the image whose colours are the regions)")
	}
	for i, in := range s.Inputs.RegionStyles {
		if in.Path == "" {
			return fmt.Errorf("spec: inputs.region_styles[%d].path is empty", i)
		}
	}
	cfg := *s.Optimise
	cfg.Seed = s.Seed
	resolved, err := cfg.Resolve(len(s.Inputs.Styles))
	if err != nil {
		return fmt.Errorf("spec: optimise: %w", err)
	}
	s.Optimise = &resolved
	return nil
}

// resolveTrain: a content folder, style images, and the train block resolved by train.Config.Resolve with the
// spec's seed.
func resolveTrain(s *Spec) error {
	if s.Inputs.ContentDir == nil || s.Inputs.ContentDir.Path == "" {
		return errors.New("spec: kind train needs inputs.content_dir.path (a folder of photos, e.g. images/content)")
	}
	if len(s.Inputs.Styles) == 0 {
		return errors.New("spec: kind train needs inputs.styles (the style images)")
	}
	if s.Train == nil {
		return errors.New(`spec: kind train needs a "train" object (at least {"kind": "cin"})`)
	}
	cfg := *s.Train
	cfg.Seed = s.Seed
	resolved, err := cfg.Resolve(len(s.Inputs.Styles))
	if err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	s.Train = &resolved
	return nil
}

// needModel: the inference kinds need a model checkpoint and a content image.
func needModel(s *Spec) error {
	if s.Inputs.Model == nil || s.Inputs.Model.Path == "" {
		return fmt.Errorf("spec: kind %s needs inputs.model (a checkpoint written by stylelab train)", s.Kind)
	}
	if s.Inputs.Content.Path == "" {
		return fmt.Errorf("spec: kind %s needs inputs.content.path (the image to stylise)", s.Kind)
	}
	return nil
}

// checkSize: an inference size is 0 (keep the content's) or in [16, 4096].
func checkSize(n int) error {
	if n != 0 && (n < 16 || n > 4096) {
		return fmt.Errorf("spec: size must be 0 (keep) or between 16 and 4096 (got %d)", n)
	}
	return nil
}

// resolveStylize: a model, a content image and a mix with one weight per style of the model (checked against
// the model when the run is prepared).
func resolveStylize(s *Spec) error {
	if err := needModel(s); err != nil {
		return err
	}
	if s.Stylize == nil || len(s.Stylize.Mix) == 0 {
		return errors.New(`spec: kind stylize needs "stylize": {"mix": [w0, w1, ...]} (one weight per style of the model)`)
	}
	return checkSize(s.Stylize.Size)
}

// resolveInterpolate: 2 styles (a strip) or 4 (a grid), steps in [2, 64] (default 5).
func resolveInterpolate(s *Spec) error {
	if err := needModel(s); err != nil {
		return err
	}
	p := s.Interpolate
	if p == nil || (len(p.Styles) != 2 && len(p.Styles) != 4) {
		return errors.New(`spec: kind interpolate needs "interpolate": {"styles": [a, b] or [a, b, c, d]}`)
	}
	if p.Steps == 0 {
		p.Steps = 5
	}
	if p.Steps < 2 || p.Steps > 64 {
		return fmt.Errorf("spec: interpolate steps must be between 2 and 64 (got %d)", p.Steps)
	}
	return checkSize(p.Size)
}

// resolveAdaIN: style images with one weight each (default equal, 1/K), alpha in [0,1] (default 1).
func resolveAdaIN(s *Spec) error {
	if err := needModel(s); err != nil {
		return err
	}
	if len(s.Inputs.Styles) == 0 {
		return errors.New("spec: kind adain needs inputs.styles (any style images)")
	}
	if s.AdaIN == nil {
		s.AdaIN = &AdaINParams{}
	}
	p := s.AdaIN
	if p.StyleWeights == nil {
		for range s.Inputs.Styles {
			p.StyleWeights = append(p.StyleWeights, 1/float64(len(s.Inputs.Styles)))
		}
	}
	if len(p.StyleWeights) != len(s.Inputs.Styles) {
		return fmt.Errorf("spec: %d style weights for %d style images: give one per style", len(p.StyleWeights), len(s.Inputs.Styles))
	}
	if p.Alpha == nil {
		one := 1.0
		p.Alpha = &one
	}
	if !(*p.Alpha >= 0 && *p.Alpha <= 1) {
		return fmt.Errorf("spec: alpha must be between 0 and 1 (got %g)", *p.Alpha)
	}
	return checkSize(p.Size)
}
