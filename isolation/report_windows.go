package isolation

// Checks reports the walls container isolation builds on Windows, and the
// ones it does not.
func Checks() []Check {
	err := CheckContainer(nil)
	jobs := "available (each worker alone in its own: memory and CPU caps, no other process, UI limits, ended with its supervisor)"
	if err != nil {
		jobs = err.Error()
	}
	return []Check{
		{Name: "job objects", OK: err == nil, Required: true, Detail: jobs},
		{Name: "file system confinement", Detail: "none on Windows: a worker can open what the supervisor's user can; only the WASM sandbox confines the module's files"},
		{Name: "network confinement", Detail: "none on Windows: a worker can reach the network the supervisor's user can; only the WASM sandbox keeps sockets from the module"},
		{Name: "container isolation", OK: err == nil, Required: true, Detail: errString(err)},
	}
}

func errString(err error) string {
	if err == nil {
		return "can run (the default): a job object per worker on Windows, no namespaces"
	}
	return err.Error()
}
