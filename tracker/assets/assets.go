// Package assets embeds the Apache ECharts JavaScript library so that charts and the dashboard work offline:
// nothing is ever loaded from a CDN.
//
// The files are copied unchanged from the npm package echarts@5.4.3 (see README.md for how and the checksum):
// dist/echarts.min.js, LICENSE, NOTICE and licenses/LICENSE-d3, plus the LICENSE of zrender@5.4.4 (the
// drawing library bundled inside echarts.min.js). ECharts is Apache-2.0; its NOTICE must be shipped with any
// redistribution, which is why the licences and the notice are exported and served next to the script.
package assets

import (
	_ "embed"
)

// EchartsVersion is the version of the embedded echarts.min.js. go-echarts v2.6.7 generates options for
// ECharts 5.4.3 (its README badge and default assets host), so the same release is embedded.
const EchartsVersion = "5.4.3"

// EchartsSHA256 is the SHA-256 of EchartsJS as published in the npm package (checked by the tests).
const EchartsSHA256 = "1156429a16a38cb8604dcc6518c19406d4226142d908f8edd2e3531443c54d19"

// EchartsJS is dist/echarts.min.js from the npm package echarts@5.4.3 (a UMD bundle that defines
// window.echarts when no AMD/CommonJS loader is present).
//
//go:embed echarts.min.js
var EchartsJS []byte

// License is the Apache License 2.0 text shipped with ECharts (it also lists the d3.js subcomponents).
//
//go:embed LICENSE
var License []byte

// LicenseD3 is the BSD 3-Clause licence of the d3.js code embedded in ECharts.
//
//go:embed LICENSE-d3
var LicenseD3 []byte

// LicenseZrender is the BSD 3-Clause licence of zrender 5.4.4, which echarts.min.js bundles.
//
//go:embed LICENSE-zrender
var LicenseZrender []byte

// Notice is ECharts' NOTICE file, which the Apache License requires to be kept with redistributions.
//
//go:embed NOTICE
var Notice []byte
