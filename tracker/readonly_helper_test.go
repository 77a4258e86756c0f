package tracker

import (
	"errors"
	"fmt"
)

// readOnlyHelper is the child process of TestReadOnlyFolder, run without the right to write the folder: it
// reads everything the parent recorded and prints what it found, or the first error.
func readOnlyHelper(db string) int {
	if _, err := Open(db); !errors.Is(err, ErrReadOnly) {
		fmt.Printf("Open of a database in a read-only folder: %v, want ErrReadOnly\n", err)
		return 1
	}
	s, err := OpenReadOnly(db)
	if err != nil {
		fmt.Println("OpenReadOnly:", err)
		return 1
	}
	defer s.Close()
	runs, err := s.Search("", "", 0)
	if err != nil {
		fmt.Println("Search:", err)
		return 1
	}
	points := 0
	for _, r := range runs {
		pts, err := s.History(r.ID, "loss")
		if err != nil {
			fmt.Println("History:", err)
			return 1
		}
		points += len(pts)
		a, err := s.FindArtifact(r.ID, "out.txt")
		if err != nil {
			fmt.Println("FindArtifact:", err)
			return 1
		}
		if _, err := s.ReadArtifact(a.SHA256); err != nil {
			fmt.Println("ReadArtifact:", err)
			return 1
		}
	}
	fmt.Printf("runs=%d points=%d\n", len(runs), points)
	return 0
}
