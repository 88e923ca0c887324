package testserver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// CheckCrashCleanup checks that a server's watchdogs clean up after a test binary that dies
// without Close. It re-runs the test binary on t's test; in that child, where it is called
// again, it runs start, which starts a server and returns its directory and pid, and exits
// at once, as if killed. The parent then waits until the server is gone and its directory
// removed. Call it first thing in the test, before any t.Parallel.
func CheckCrashCleanup(t *testing.T, start func() (dir string, pid int, err error)) {
	const child = "TESTSERVER_CRASH_CHILD"
	if os.Getenv(child) == t.Name() {
		dir, pid, err := start()
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Printf("dir=%s pid=%d\n", dir, pid)
		os.Exit(3) // no Close, no deferred calls: as if killed
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), child+"="+t.Name())
	out, err := cmd.Output()
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 3 {
		t.Fatalf("child: got %v, want exit status 3; output:\n%s", err, out)
	}
	var dir string
	var pid int
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "dir=") {
			if _, err := fmt.Sscanf(line, "dir=%s pid=%d", &dir, &pid); err != nil {
				t.Fatalf("child output %q: %v", line, err)
			}
		}
	}
	if dir == "" || pid == 0 {
		t.Fatalf("child printed no dir and pid:\n%s", out)
	}
	// The watchdogs act once the child is gone; wait for them, bounded only so that a broken
	// watchdog fails the test instead of hanging it.
	deadline := time.Now().Add(time.Minute)
	for {
		_, statErr := os.Stat(dir)
		alive := syscall.Kill(pid, 0) == nil && !isZombie(pid)
		if errors.Is(statErr, os.ErrNotExist) && !alive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after the child died: directory stat %v, server alive %v", statErr, alive)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// isZombie reports whether pid has exited but was not reaped yet.
func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && strings.HasPrefix(rest, "Z")
}
