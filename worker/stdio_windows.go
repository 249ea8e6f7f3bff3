package worker

// closeStdio has nothing to close on Windows, where the module's stdio is
// not passed as numbered descriptors; worker stdio on Windows arrives with
// the Windows runner.
func closeStdio() {}

// restrictUmask has no equivalent on Windows: new files inherit the
// directory's ACL.
func restrictUmask() {}
