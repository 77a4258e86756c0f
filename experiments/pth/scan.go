package pth

import (
	"bufio"
	"encoding/binary"
	"fmt"
)

// scanPickle reads one pickle (up to and including its STOP opcode) from r and returns its bytes, after checking
// every opcode and every length the stream declares against budget, the bytes that are really left in the file.
//
// gopickle allocates a declared length before it reads (a BINBYTES8 that claims 2⁶⁰ bytes would be a 2⁶⁰-byte
// make), so this pass runs first: a stream that declares more than is there is refused here, and the unpickler
// then only ever sees a buffer whose lengths are all true. The opcode table is the one of Python's pickletools
// (protocols 0–5).
func scanPickle(r *bufio.Reader, budget int64) ([]byte, error) {
	var buf []byte
	take := func(n int64) ([]byte, error) {
		if n < 0 || int64(len(buf))+n > budget {
			return nil, fmt.Errorf("the pickle declares %d bytes at byte %d, but only %d are left in the file", n, len(buf), budget-int64(len(buf)))
		}
		start := len(buf)
		for i := int64(0); i < n; i++ {
			b, err := r.ReadByte()
			if err != nil {
				return nil, fmt.Errorf("the pickle ends inside an opcode at byte %d (%v)", len(buf), err)
			}
			buf = append(buf, b)
		}
		return buf[start:], nil
	}
	line := func() error {
		for {
			b, err := take(1)
			if err != nil {
				return err
			}
			if b[0] == '\n' {
				return nil
			}
		}
	}
	for {
		at := len(buf)
		op, err := take(1)
		if err != nil {
			if at == 0 {
				return nil, fmt.Errorf("no pickle where one was expected (%v)", err)
			}
			return nil, err
		}
		switch c := op[0]; c {
		case '.': // STOP
			return buf, nil
		case '(', '0', '1', '2', 'N', 'a', 'b', 'd', '}', 'e', 'l', ']', 'o', 'R', 's', 't', ')', 'u', 'Q',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98:
			// no argument
		case 'F', 'I', 'L', 'S', 'V', 'P', 'g', 'p':
			if err := line(); err != nil {
				return nil, err
			}
		case 'i', 'c': // INST, GLOBAL: module and name lines
			if err := line(); err != nil {
				return nil, err
			}
			if err := line(); err != nil {
				return nil, err
			}
		case 'K', 'h', 'q', 0x80, 0x82: // one-byte argument
			if _, err := take(1); err != nil {
				return nil, err
			}
		case 'M', 0x83:
			if _, err := take(2); err != nil {
				return nil, err
			}
		case 'J', 'j', 'r', 0x84:
			if _, err := take(4); err != nil {
				return nil, err
			}
		case 'G':
			if _, err := take(8); err != nil {
				return nil, err
			}
		case 'U', 'C', 0x8c, 0x8a: // SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE, LONG1: 1-byte length
			n, err := take(1)
			if err != nil {
				return nil, err
			}
			if _, err := take(int64(n[0])); err != nil {
				return nil, err
			}
		case 'T', 'B', 'X', 0x8b: // BINSTRING, BINBYTES, BINUNICODE, LONG4: 4-byte length (signed for T and LONG4)
			n, err := take(4)
			if err != nil {
				return nil, err
			}
			l := int64(binary.LittleEndian.Uint32(n))
			if c == 'T' || c == 0x8b {
				l = int64(int32(binary.LittleEndian.Uint32(n)))
			}
			if _, err := take(l); err != nil {
				return nil, err
			}
		case 0x8e, 0x8d, 0x96: // BINBYTES8, BINUNICODE8, BYTEARRAY8: 8-byte length
			n, err := take(8)
			if err != nil {
				return nil, err
			}
			u := binary.LittleEndian.Uint64(n)
			if u > uint64(budget) {
				return nil, fmt.Errorf("the pickle declares %d bytes at byte %d, but the file has %d", u, at, budget)
			}
			if _, err := take(int64(u)); err != nil {
				return nil, err
			}
		case 0x95: // FRAME: its contents are ordinary opcodes, scanned as they come
			n, err := take(8)
			if err != nil {
				return nil, err
			}
			if u := binary.LittleEndian.Uint64(n); u > uint64(budget-int64(len(buf))) {
				return nil, fmt.Errorf("the pickle declares a %d-byte frame at byte %d, but only %d bytes are left", u, at, budget-int64(len(buf)))
			}
		default:
			return nil, fmt.Errorf("unknown pickle opcode 0x%02x at byte %d", c, at)
		}
	}
}
