// Package safefile reads the files a run is given (model checkpoints, loss-network weights, images, inputs to
// hash) and writes the files a run makes (checkpoints, weights exports), so that a hostile or mistaken path
// cannot make stylelab hang, read without end, or destroy another file.
//
// Reading (Open, ReadFile): the path must name a regular file once symlinks are followed. A FIFO, a device such
// as /dev/zero, a socket or a folder is refused with an error that says what it is (ErrNotRegular); a FIFO is
// opened without blocking (O_NONBLOCK on Unix), so naming one never hangs. ReadFile reads exactly the size the
// file had when it was opened: memory is bounded by the file's real size, and a file that grows while it is
// read is an error, never a longer or partial read taken as whole.
//
// Writing (WriteFile, WriteAtomic): the bytes go to a fresh temporary file in the destination's folder, named
// "." + base + ".<random>.tmp" and created with O_CREATE|O_EXCL (a symlink or a file planted at that name is
// never followed or overwritten), are synced, and are renamed over the destination, so readers see the old file
// or the whole new one. The file's mode is Mode (0644, the mode of every output image stylelab writes):
// checkpoints and weights hold nothing secret, and one policy for every output keeps a results folder
// shareable. On failure the temporary file is removed. A writer holds an exclusive flock(2) on its temporary
// file until the rename; the next write to the same destination removes the temporary files of writers that
// died (SIGKILL, power loss) — those whose lock can be taken and that are older than StaleAge (a writer takes
// its lock just after creating the file) — and leaves live writers' files alone.
package safefile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotRegular marks a path that is not a regular file (errors.Is).
var ErrNotRegular = errors.New("not a regular file")

// Mode is the permission of the files WriteFile and WriteAtomic make.
const Mode fs.FileMode = 0o644

// kind names a file type for messages.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "not a regular file"
}

// NotRegular is the error for a path whose type is m: it names the type and the fix.
func NotRegular(path string, m fs.FileMode) error {
	return fmt.Errorf("%s is %s, not a regular file: give the path of a file (%w)", path, kind(m), ErrNotRegular)
}

// Open opens path for reading after checking, on the opened file itself, that it is a regular file (symlinks are
// followed). It never blocks on a FIFO. The caller closes the file; info is its fstat.
func Open(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|nonblock, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, NotRegular(path, st.Mode())
	}
	return f, st, nil
}

// ReadFile returns the bytes of the regular file path (see Open), reading exactly its size: the memory used is
// the file's size, and a file that changes size while it is read is an error. Errors from opening are returned
// as os.Open's (errors.Is(err, fs.ErrNotExist) works).
func ReadFile(path string) ([]byte, error) {
	f, st, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(path, f, st.Size())
}

// readAll reads exactly size bytes of f, then checks that nothing follows.
func readAll(path string, f io.Reader, size int64) ([]byte, error) {
	if int64(int(size)) != size || size < 0 {
		return nil, fmt.Errorf("%s: %d bytes is more than this machine can address", path, size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s shrank while it was read (it had %d bytes): read it again once nothing writes to it", path, size)
		}
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var one [1]byte
	if n, _ := f.Read(one[:]); n > 0 {
		return nil, fmt.Errorf("%s grew while it was read (it had %d bytes): read it again once nothing writes to it", path, size)
	}
	return data, nil
}

// Copy writes the bytes of the regular file path to w (e.g. a hash), exactly its size when opened (see ReadFile),
// and returns how many were copied.
func Copy(w io.Writer, path string) (int64, error) {
	f, st, err := Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := io.CopyN(w, f, st.Size())
	if err != nil {
		if errors.Is(err, io.EOF) {
			return n, fmt.Errorf("%s shrank while it was read (it had %d bytes): read it again once nothing writes to it", path, st.Size())
		}
		return n, fmt.Errorf("reading %s: %w", path, err)
	}
	var one [1]byte
	if m, _ := f.Read(one[:]); m > 0 {
		return n, fmt.Errorf("%s grew while it was read (it had %d bytes): read it again once nothing writes to it", path, st.Size())
	}
	return n, nil
}

// WriteFile writes data to path atomically (see the package doc), creating path's folder if needed.
func WriteFile(path string, data []byte) error {
	return WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// tempPrefix starts the name of path's temporary files: "." + base + "." + random + ".tmp".
func tempPrefix(path string) string { return "." + filepath.Base(path) + "." }

const tempSuffix = ".tmp"

// WriteAtomic writes path atomically with the bytes write produces (see the package doc): first it removes the
// temporary files of dead writers to path, then write gets the locked temporary file, which is synced, set to
// Mode and renamed over path. An error from write (or any step) removes the temporary file and leaves path as
// it was.
func WriteAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a folder: give a file name to write", path)
	}
	RemoveStale(path)
	f, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w (check that the folder is writable)", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := lock(f, false); err != nil {
		return fmt.Errorf("writing %s: locking the temporary file: %w", path, err)
	}
	if err = write(f); err != nil {
		return err
	}
	if err = f.Chmod(Mode); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	// Rename before close: the lock is held until the file has its final name, so a cleaner never sees an
	// unlocked temporary file of a live writer.
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return f.Close()
}

// createTemp makes a fresh temporary file for path with O_CREATE|O_EXCL.
func createTemp(path string) (*os.File, error) {
	for range 100 {
		var b [8]byte
		rand.Read(b[:])
		name := filepath.Join(filepath.Dir(path), tempPrefix(path)+hex.EncodeToString(b[:])+tempSuffix)
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, errors.New("could not create a temporary file (100 names taken)")
}

// StaleAge is how old (by modification time) a temporary file must be before RemoveStale may remove it: a writer
// locks its file just after creating it, and this keeps a cleaner out of that gap.
const StaleAge = time.Minute

// RemoveStale removes the temporary files a dead writer left for path: regular files named like WriteAtomic's,
// older than StaleAge, whose exclusive lock can be taken (a live writer holds its lock until it renames). It
// returns the names it removed. Symlinks and other files are never touched.
func RemoveStale(path string) []string {
	dir, prefix := filepath.Dir(path), tempPrefix(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, tempSuffix) {
			continue
		}
		if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < StaleAge {
			continue
		}
		mid := n[len(prefix) : len(n)-len(tempSuffix)]
		if _, err := hex.DecodeString(mid); err != nil || len(mid) != 16 {
			continue // not one of ours (e.g. a user's file that happens to look alike)
		}
		p := filepath.Join(dir, n)
		f, err := os.OpenFile(p, os.O_RDONLY|nonblock, 0)
		if err != nil {
			continue
		}
		if lock(f, true) == nil { // no live writer holds it
			if os.Remove(p) == nil {
				removed = append(removed, p)
			}
		}
		f.Close()
	}
	return removed
}
