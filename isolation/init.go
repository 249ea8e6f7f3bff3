package isolation

// Init becomes a container's init, and never returns, when this process was
// started as one; in any other process it returns at once and does nothing.
//
// Container isolation (libcontainer) sets up each container from inside: it
// re-executes the executable of the process that calls Start (the
// supervisor, /proc/self/exe; not the worker executable) with the argument
// "init" and a private environment, lets it enter the new namespaces, build
// the root, drop privileges and load the seccomp filter, and then has it
// execute the worker. On Linux the package's own init function catches that
// case, as runc's main package does, so that the init does not wait for the
// rest of the program's package initialisation (Go initialises packages in
// the order of their import paths, each once what it imports is done; the
// packages isolation does not import come after it). Init is the same check
// for programs that want it explicit: main, and TestMain in any test
// package that starts containers, may call it first, before flags are
// parsed, goroutines are started or anything is printed:
//
//	func main() {
//		isolation.Init()
//		if protocol.IsWorker(os.Args) {
//			os.Exit(worker.Main())
//		}
//		…
//	}
//
// Package init functions that run before isolation's (those of the packages
// it imports, and of any whose import path sorts before
// github.com/agent-ctl/agent-ctl/isolation with all their imports done) run
// inside the new namespaces too: keep them free of side effects. A
// user-facing command must not be named "init"; Init only acts when
// libcontainer's own environment is present too, so `agent-ctl init` could
// never be mistaken for it, but it would confuse readers.
func Init() { initContainer() }
