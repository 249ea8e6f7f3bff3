//go:build (!linux || !cgo) && !windows

package isolation

// Checks reports that container isolation is unavailable in this build.
func Checks() []Check {
	err := CheckContainer(nil)
	return []Check{{Name: "container isolation", OK: err == nil, Required: true, Detail: errString(err)}}
}

func errString(err error) string {
	if err == nil {
		return "can run (the default)"
	}
	return err.Error()
}
