package audit

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// helperEnv makes the test binary append records as a separate writer
// process (TestHelperProcess).
const helperEnv = "AUDIT_TEST_HELPER"

func appendN(t testing.TB, l *Log, n int, caller string) {
	t.Helper()
	for i := range n {
		r := &Record{Time: time.Now().UTC(), Caller: caller, Frontend: "run", Tool: "t" + strconv.Itoa(i%3), Module: "/m.wasm", Args: []string{strconv.Itoa(i)}, Outcome: "exited"}
		if err := l.Append(r); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

func open(t testing.TB, dir string, o *Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func verifyOK(t *testing.T, dir string, lines int) *Report {
	t.Helper()
	rep, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Problem != nil {
		t.Fatalf("verify: %v", rep.Problem)
	}
	if rep.Lines != lines {
		t.Fatalf("verify counted %d lines, want %d", rep.Lines, lines)
	}
	return rep
}

// TestHelperProcess appends records when run as a writer process.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("a writer process for TestAppend_processes, not a test of its own")
	}
	n, _ := strconv.Atoi(os.Getenv("AUDIT_TEST_N"))
	size, _ := strconv.ParseInt(os.Getenv("AUDIT_TEST_SIZE"), 10, 64)
	l, err := Open(os.Getenv(helperEnv), &Options{MaxFileSize: size})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, n, "p"+strconv.Itoa(os.Getpid()))
	l.Close()
}

// TestAppend_processes: four processes appending at once, with a small
// rotation size so that they also rotate under each other, lose no line
// and leave a chain that verifies. Without the flock the chain broke
// within the first few hundred appends of each run.
func TestAppend_processes(t *testing.T) {
	const procs, each = 4, 1500
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, procs)
	outs := make([]bytes.Buffer, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+dir, "AUDIT_TEST_N="+strconv.Itoa(each), "AUDIT_TEST_SIZE=65536")
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = cmd.Wait() }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v\n%s", i, err, outs[i].String())
		}
	}
	rep := verifyOK(t, dir, procs*each)
	if rep.HeadSeq != procs*each {
		t.Errorf("head seq %d, want %d", rep.HeadSeq, procs*each)
	}
	files, _ := Files(dir)
	if len(files) < 3 {
		t.Errorf("only %d files: the test meant to rotate under concurrent writers", len(files))
	}
	perCaller := map[string]int{}
	if err := Read(dir, &Filter{}, func(r *Record, _ []byte) error { perCaller[r.Caller]++; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(perCaller) != procs {
		t.Fatalf("callers %v, want %d of them", perCaller, procs)
	}
	for c, n := range perCaller {
		if n != each {
			t.Errorf("caller %s has %d lines, want %d", c, n, each)
		}
	}
}

// lines reads the log's one file as lines.
func lines(t *testing.T, dir string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, CurrentName))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte{'\n'})
}

func writeLines(t *testing.T, dir string, ls [][]byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, CurrentName), bytes.Join(ls, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestVerify_tampered: each kind of tampering is found and the first line
// it touched is named.
func TestVerify_tampered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func([][]byte) [][]byte
		where  string
		what   string
	}{
		{"edited byte", func(ls [][]byte) [][]byte {
			ls[4] = bytes.Replace(ls[4], []byte(`"caller":"me"`), []byte(`"caller":"mE"`), 1)
			return ls
		}, "audit.log:5", "edited"},
		{"edited byte breaking the JSON", func(ls [][]byte) [][]byte {
			ls[6][0] = '['
			return ls
		}, "audit.log:7", "edited"},
		{"edited prev field", func(ls [][]byte) [][]byte {
			ls[0] = bytes.Replace(ls[0], []byte(`"prev":""`), []byte(`"prev":"00"`), 1)
			return ls
		}, "audit.log:1", "edited"},
		{"deleted line", func(ls [][]byte) [][]byte { return append(ls[:3], ls[4:]...) }, "audit.log:4", "removed"},
		{"deleted first line", func(ls [][]byte) [][]byte { return ls[1:] }, "audit.log:1", "removed"},
		{"swapped pair", func(ls [][]byte) [][]byte { ls[5], ls[6] = ls[6], ls[5]; return ls }, "audit.log:6", "out of order"},
		{"line inserted", func(ls [][]byte) [][]byte {
			return append(ls[:2], append([][]byte{bytes.Clone(ls[2])}, ls[2:]...)...)
		}, "audit.log:4", "out of order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			appendN(t, open(t, dir, nil), 10, "me")
			verifyOK(t, dir, 10)
			writeLines(t, dir, tc.tamper(lines(t, dir)))
			rep, err := Verify(dir)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Problem == nil {
				t.Fatal("verify found nothing")
			}
			if rep.Problem.Where != tc.where || !strings.Contains(rep.Problem.What, tc.what) {
				t.Errorf("problem %q, want %s: …%s…", rep.Problem, tc.where, tc.what)
			}
		})
	}
}

// TestAppend_tornLine: a crash mid-write leaves a line without its end;
// verify reports it, and the next append closes it and chains past it.
func TestAppend_tornLine(t *testing.T) {
	dir := t.TempDir()
	appendN(t, open(t, dir, nil), 3, "me")
	ls := lines(t, dir)
	frag := bytes.Clone(ls[2][:len(ls[2])/2])
	writeLines(t, dir, append(ls[:2], frag)) // the third line, torn
	rep, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Problem != nil || len(rep.Torn) != 1 || rep.Lines != 2 {
		t.Fatalf("torn last line: %+v", rep)
	}
	// A new writer (the crashed one's successor) carries on.
	appendN(t, open(t, dir, nil), 2, "after")
	rep = verifyOK(t, dir, 4)
	if len(rep.Torn) != 1 || !strings.HasPrefix(rep.Torn[0], "audit.log:3") {
		t.Errorf("torn lines %v, want audit.log:3", rep.Torn)
	}
	// The fragment is skipped by the chain, not hidden: editing it breaks it.
	ls = lines(t, dir)
	ls[2] = append(bytes.Clone(ls[2][:len(ls[2])-2]), 'x', '\n')
	writeLines(t, dir, ls)
	if rep, _ := Verify(dir); rep.Problem == nil || rep.Problem.Where != "audit.log:3" {
		t.Errorf("edited torn fragment: %+v", rep)
	}
}

// TestAppend_rotation: the chain continues across rotated files, the next
// writer (a new Log) included, and a removed rotated file is found.
func TestAppend_rotation(t *testing.T) {
	dir := t.TempDir()
	appendN(t, open(t, dir, &Options{MaxFileSize: 1024}), 30, "me")
	appendN(t, open(t, dir, &Options{MaxFileSize: 1024}), 30, "me")
	rep := verifyOK(t, dir, 60)
	files, _ := Files(dir)
	if len(files) < 4 {
		t.Fatalf("%d files: want rotations", len(files))
	}
	if rep.HeadSeq != 60 {
		t.Errorf("head seq %d", rep.HeadSeq)
	}
	if err := os.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	rep, _ = Verify(dir)
	if rep.Problem == nil || !strings.Contains(rep.Problem.What, "removed") || !strings.HasPrefix(rep.Problem.Where, filepath.Base(files[2])) {
		t.Errorf("removed file: %+v", rep.Problem)
	}
}

// TestAppend_batch: batch mode writes the same chain.
func TestAppend_batch(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, &Options{Batch: true, BatchInterval: time.Millisecond})
	appendN(t, l, 20, "me")
	verifyOK(t, dir, 20)
}

// follow runs Follow on dir in the background, polling every poll, and
// returns the sequence numbers of the records it passes on; stop cancels
// it and fails t if Follow ended with an error.
func follow(t *testing.T, dir string, f *Filter, poll time.Duration) (seqs <-chan int64, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan int64, 100)
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, dir, f, poll, func(r *Record, _ []byte) error {
			got <- r.Seq
			return nil
		})
	}()
	return got, func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// expectSeqs fails t unless the next records that seqs passes on are
// first to last, in order, each within a generous bound.
func expectSeqs(t *testing.T, seqs <-chan int64, first, last int64) {
	t.Helper()
	for want := first; want <= last; want++ {
		select {
		case s := <-seqs:
			if s != want {
				t.Fatalf("followed seq %d, want %d", s, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("seq %d never arrived", want)
		}
	}
}

// TestFollow: records appended after Follow starts arrive, filtered.
func TestFollow(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, &Options{MaxFileSize: 2048})
	appendN(t, l, 2, "old")
	seqs, stop := follow(t, dir, &Filter{Caller: "new"}, 5*time.Millisecond)
	defer stop()
	appendN(t, l, 30, "new") // rotates on the way
	expectSeqs(t, seqs, 3, 32)
}

// TestCheck_readOnly: a directory on a read-only file system fails Check
// (root passes permission bits, so a read-only bind mount is the test).
func TestCheck_readOnly(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, nil)
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	roMount(t, dir)
	if err := l.Check(); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("check on a read-only mount: %v", err)
	}
	if err := l.Append(&Record{}); err == nil {
		t.Fatal("append on a read-only mount succeeded")
	}
}

// TestFollow_burst: a burst that rotates the log several times between
// two polls loses no record. Follow once scanned only the two newest files
// and lost the records of the files between them.
func TestFollow_burst(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, &Options{MaxFileSize: 1024})
	// A long poll: the whole burst below lands between two polls.
	seqs, stop := follow(t, dir, nil, 2*time.Second)
	defer stop()
	// The first record tells that Follow's first scan is over: it arrives
	// either from that scan or from the first poll after it.
	appendN(t, l, 1, "first")
	expectSeqs(t, seqs, 1, 1)
	before, _ := Files(dir)
	appendN(t, l, 40, "burst")
	after, _ := Files(dir)
	if len(after)-len(before) < 3 {
		t.Fatalf("the burst rotated %d times; the test needs 3 or more", len(after)-len(before))
	}
	expectSeqs(t, seqs, 2, 41)
}
