package gemm

import (
	"bufio"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/cpu"
)

// cpuFeatures lists the CPUID features that decide the engine and the OpenBLAS core type.
func cpuFeatures() []string {
	if runtime.GOARCH != "amd64" {
		return nil
	}
	var f []string
	for _, x := range []struct {
		name string
		has  bool
	}{
		{"avx", cpu.X86.HasAVX}, {"avx2", cpu.X86.HasAVX2}, {"fma", cpu.X86.HasFMA},
		{"avx512f", cpu.X86.HasAVX512F}, {"avx512bw", cpu.X86.HasAVX512BW}, {"avx512dq", cpu.X86.HasAVX512DQ},
		{"avx512vl", cpu.X86.HasAVX512VL}, {"avx512bf16", cpu.X86.HasAVX512BF16},
	} {
		if x.has {
			f = append(f, x.name)
		}
	}
	return f
}

// cpuModel is the "model name" line of /proc/cpuinfo ("" when unreadable).
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// coreTypes is the ladder of OpenBLAS core types to try on this CPU, best first, chosen from CPUID:
// AVX-512 F+BW+DQ+VL → SkylakeX, then the AVX2 kernels; AVX2+FMA → Haswell (Zen on AMD, which
// OpenBLAS maps to the same AVX2 kernels with AMD block sizes); AVX → Sandybridge. An empty ladder
// means "let OpenBLAS detect" (no x86 SIMD we know of).
func coreTypes(features []string, vendorAMD bool) []string {
	has := func(names ...string) bool {
		for _, n := range names {
			found := false
			for _, f := range features {
				found = found || f == n
			}
			if !found {
				return false
			}
		}
		return true
	}
	avx2 := "Haswell"
	if vendorAMD {
		avx2 = "Zen"
	}
	var l []string
	if has("avx512f", "avx512bw", "avx512dq", "avx512vl") {
		l = append(l, "SkylakeX")
	}
	if has("avx2", "fma") {
		l = append(l, avx2)
	}
	if has("avx") {
		l = append(l, "Sandybridge")
	}
	return l
}

// cpuVendorAMD reports an AMD CPU (from /proc/cpuinfo's vendor_id).
func cpuVendorAMD() bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	return err == nil && strings.Contains(string(b), "AuthenticAMD")
}
