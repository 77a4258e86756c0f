package runner

import (
	"fmt"

	"github.com/stylelab/stylelab/experiments/gatys"
)

// checkTiling refuses, before the run starts (nothing recorded as RUNNING, nothing written), a tile below the
// loss network's halo, a size that does not fit even at the smallest tile, and tiling a guided kernel MMD (region mask).
func checkTiling(j *optimiseJob) error {
	tiles, err := gatys.CheckTiling(*j.sp.Optimise, j.w, j.content)
	if err != nil {
		return fmt.Errorf("tile: %w", err)
	}
	for _, t := range tiles {
		if t > 0 && j.guide != nil && j.guide.Mask != nil && !gatys.TiledGuided(*j.sp.Optimise) {
			return fmt.Errorf("tile: the guided %s loss (spatial control) is not tiled: use --tile off, a smaller size, or gram, meanvar, mmd-linear or mmd-poly of degree 2", j.sp.Optimise.Loss)
		}
	}
	return nil
}

// tilingTags records how a run was tiled: tile (px, "off" untiled), tile.halo, tile.passes, tile.tiles.
func tilingTags(res *gatys.Result, tags map[string]string) {
	if res.Tiling == nil {
		tags["tile"] = "off"
		return
	}
	t := res.Tiling
	tags["tile"] = fmt.Sprint(t.Tile)
	tags["tile.halo"] = fmt.Sprint(t.Halo)
	tags["tile.passes"] = fmt.Sprint(t.Passes)
	tags["tile.tiles"] = fmt.Sprint(t.Tiles)
}

// onTile reports a tile's progress and, once the run is interrupted, stops it mid-step (a tiled step at print
// size takes minutes): the error is the *Interrupted of the last completed step, whose image is the output.
func onTile(x *Exec, t gatys.TileReport, lastStep int) error {
	if x.Options.OnTile != nil {
		x.Options.OnTile(t)
	}
	return x.Stop(lastStep)
}
