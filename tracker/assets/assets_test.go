package assets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// The embedded script must be the published echarts@5.4.3 bundle, byte for byte.
func TestEchartsChecksum(t *testing.T) {
	sum := sha256.Sum256(EchartsJS)
	if got := hex.EncodeToString(sum[:]); got != EchartsSHA256 {
		t.Fatalf("echarts.min.js SHA-256 = %s, want %s (re-copy it from npm echarts@%s, see README.md)", got, EchartsSHA256, EchartsVersion)
	}
	if !bytes.Contains(EchartsJS, []byte(`"`+EchartsVersion+`"`)) {
		t.Errorf("echarts.min.js does not declare version %q", EchartsVersion)
	}
}

// Inlining the script into an HTML <script> element is only safe if it never closes the element itself.
func TestEchartsInlineSafe(t *testing.T) {
	if bytes.Contains(bytes.ToLower(EchartsJS), []byte("</script")) {
		t.Fatal("echarts.min.js contains </script; inlining it would break the page")
	}
}

func TestLicenceFilesPresent(t *testing.T) {
	if !bytes.Contains(License, []byte("Apache License")) {
		t.Error("LICENSE is not the Apache License")
	}
	if !bytes.Contains(Notice, []byte("Apache ECharts")) {
		t.Error("NOTICE does not name Apache ECharts")
	}
	if !bytes.Contains(LicenseZrender, []byte("Baidu")) || !bytes.Contains(EchartsJS, []byte("ZRender")) {
		t.Error("LICENSE-zrender is not zrender's licence, or the bundle no longer holds zrender")
	}
	if !bytes.Contains(LicenseD3, []byte("Redistribution")) {
		t.Error("LICENSE-d3 is not the BSD licence text")
	}
}
