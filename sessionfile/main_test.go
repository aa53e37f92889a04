package sessionfile_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/courierhttp/courier/cookiejar"
	"github.com/courierhttp/courier/sessionfile"
)

// writerEnv makes the test binary a writer process for
// TestConcurrentWriters: "<path>|<id>|<rounds>".
const writerEnv = "SESSIONFILE_TEST_WRITER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(writerEnv); spec != "" {
		if err := runWriter(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func runWriter(spec string) error {
	parts := strings.Split(spec, "|")
	if len(parts) != 3 {
		return fmt.Errorf("bad %s %q", writerEnv, spec)
	}
	rounds, err := strconv.Atoi(parts[2])
	if err != nil {
		return err
	}
	for r := range rounds {
		if err := writeRound(parts[0], parts[1], r); err != nil {
			return err
		}
	}
	return nil
}

// writeRound is one writer's round: load the file (or start one), add a
// cookie and set a header of its own, save.
func writeRound(path, id string, round int) error {
	f, err := sessionfile.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = sessionfile.New(path), nil
	}
	if err != nil {
		return err
	}
	// A site per writer: a jar keeps at most 50 cookies per site.
	c := cookiejar.Cookie{Name: fmt.Sprintf("%s-%d", id, round), Value: "v", Domain: id + ".test", Path: "/"}
	if err := f.Jar.Set(c); err != nil {
		return err
	}
	f.Header.Set("X-Writer-"+id, strconv.Itoa(round))
	return f.Save()
}
