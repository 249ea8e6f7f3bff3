package isolation

// Init becomes a container's init, and never returns, when this process was
// started as one; in any other process it returns at once and does nothing.
//
// Container isolation (libcontainer) sets up each container from inside: it
// re-executes the executable of the process that calls Start (the
// supervisor, /proc/self/exe; not the worker executable) with the argument
// "init" and a private environment, lets it enter the new namespaces, build
// the root, drop privileges and load the seccomp filter, and then has it
// execute the worker. So the supervisor's main, and TestMain in any test
// package that starts containers, must call Init first, before flags are
// parsed, goroutines are started or anything is printed:
//
//	func main() {
//		isolation.Init()
//		if worker.IsWorker(os.Args) {
//			os.Exit(worker.Main())
//		}
//		…
//	}
//
// Package init functions of the whole program still run before Init, inside
// the new namespaces: keep them free of side effects. A user-facing command
// must not be named "init"; Init only acts when libcontainer's own
// environment is present too, so `agent-ctl init` could never be mistaken
// for it, but it would confuse readers. Tests that start containers call
// Init from TestMain.
func Init() { initContainer() }
