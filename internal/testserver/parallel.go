package testserver

import (
	"flag"
	"runtime"
	"strconv"
)

// WaitingParallel lets a test binary run n parallel tests at once instead of go test's
// default of one per core, unless its command line sets -parallel. It is for packages whose
// tests spend most of their time waiting on servers (logins, rotations, paced loads): one
// test per core leaves the cores idle while each waits. Call it from TestMain before m.Run.
func WaitingParallel(n int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if f := flag.Lookup("test.parallel"); f != nil && !given && n > runtime.GOMAXPROCS(0) {
		_ = f.Value.Set(strconv.Itoa(n))
	}
}
