package spec

import (
	"errors"
	"fmt"
)

// resolveFeedForward resolves and validates the train, stylize, interpolate and adain kinds.
func (s *Spec) resolveFeedForward() error {
	needModel := func() error {
		if s.Inputs.Model == nil || s.Inputs.Model.Path == "" {
			return fmt.Errorf("spec: kind %s needs inputs.model (a checkpoint written by stylelab train)", s.Kind)
		}
		if s.Inputs.Content.Path == "" {
			return fmt.Errorf("spec: kind %s needs inputs.content.path (the image to stylise)", s.Kind)
		}
		return nil
	}
	size := func(n int) error {
		if n != 0 && (n < 16 || n > 4096) {
			return fmt.Errorf("spec: size must be 0 (keep) or between 16 and 4096 (got %d)", n)
		}
		return nil
	}
	switch s.Kind {
	case KindTrain:
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
	case KindStylize:
		if err := needModel(); err != nil {
			return err
		}
		if s.Stylize == nil || len(s.Stylize.Mix) == 0 {
			return errors.New(`spec: kind stylize needs "stylize": {"mix": [w0, w1, ...]} (one weight per style of the model)`)
		}
		return size(s.Stylize.Size)
	case KindInterpolate:
		if err := needModel(); err != nil {
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
		return size(p.Size)
	case KindAdaIN:
		if err := needModel(); err != nil {
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
		return size(p.Size)
	}
	return nil
}
