package nn

import (
	"fmt"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Several layers here are "spatial gathers": every output pixel (b, i, j) copies the C-vector of one input
// pixel (or zero). They flatten x [B,H,W,C] to rows [B·H·W, C] and do ONE graph.Gather with row indices
// computed on the host. Gather's gradient (ScatterSum) works on every backend, unlike Slice's and Pad's.

// gatherKey identifies one host-built index table.
type gatherKey struct {
	kind           string
	b, h, w        int
	p1, p2, p3, p4 int
	p5, p6         int
}

// gatherTable is an immutable index table and the dimensions of the index tensor built from it
// (the last dimension is always 1: one row index per gathered slice).
type gatherTable struct {
	idx  []int32
	dims []int
}

var (
	gatherCacheMu sync.Mutex
	gatherCache   = map[gatherKey]*gatherTable{}
)

// maxGatherCacheEntries bounds the cache; past it the cache is cleared (tables are cheap to rebuild).
const maxGatherCacheEntries = 256

// cachedTable returns the table for key, building it with build on first use. Safe for concurrent use.
func cachedTable(key gatherKey, build func() *gatherTable) *gatherTable {
	gatherCacheMu.Lock()
	t, ok := gatherCache[key]
	gatherCacheMu.Unlock()
	if ok {
		return t
	}
	t = build()
	gatherCacheMu.Lock()
	if len(gatherCache) >= maxGatherCacheEntries {
		clear(gatherCache)
	}
	gatherCache[key] = t
	gatherCacheMu.Unlock()
	return t
}

// indicesNode puts a table into the graph as an int32 constant.
func indicesNode(g *graph.Graph, t *gatherTable) *graph.Node {
	return graph.ConstTensor(g, tensors.FromFlatDataAndDimensions(t.idx, t.dims...))
}

// checkNHWC panics with a clear message unless x is a rank-4 float tensor.
func checkNHWC(op string, x *graph.Node) (b, h, w, c int) {
	if x.Rank() != 4 {
		panic(fmt.Sprintf("nn.%s: input must be NHWC [B,H,W,C], got shape %s", op, x.Shape()))
	}
	if !x.DType().IsFloat() {
		panic(fmt.Sprintf("nn.%s: input must be a float tensor, got %s", op, x.Shape()))
	}
	d := x.Shape().Dimensions
	return d[0], d[1], d[2], d[3]
}

// spatialGather returns out[b,i,j,:] = rows[t.idx[b,i,j,...]] reshaped to outDims, where rows is x
// flattened to [B·H·W, C] (plus one appended zero row at index B·H·W when zeroRow is set).
func spatialGather(x *graph.Node, t *gatherTable, zeroRow bool, outDims ...int) *graph.Node {
	b, h, w, c := x.Shape().Dimensions[0], x.Shape().Dimensions[1], x.Shape().Dimensions[2], x.Shape().Dimensions[3]
	rows := graph.Reshape(x, b*h*w, c)
	if zeroRow {
		rows = graph.Concatenate([]*graph.Node{rows, graph.Zeros(x.Graph(), shapes.Make(x.DType(), 1, c))}, 0)
	}
	out := graph.Gather(rows, indicesNode(x.Graph(), t))
	return graph.Reshape(out, outDims...)
}
