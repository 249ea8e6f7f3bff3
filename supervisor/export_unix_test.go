//go:build unix

package supervisor

// PromoteCompiled lets the external tests (the root-side table) hand the
// supervisor a compile directory a worker taken over might leave.
var PromoteCompiled = promoteCompiled

// CompiledName is the compile output's name in a call directory.
const CompiledName = compiledName
