package isolation

// CheckContainer tells whether container isolation can work on this host
// with this build, and if not, why: the error wraps ErrUnavailable and says
// what is missing. It changes nothing on the host. NewContainer runs the
// same checks.
func CheckContainer(o *ContainerOptions) error {
	if o == nil {
		o = &ContainerOptions{}
	}
	return checkContainer(o)
}

// Check is one wall or host feature as `agent-ctl doctor` reports it.
type Check struct {
	Name string
	OK   bool
	// Detail says what was found, or what is missing and how to get it.
	Detail string
	// Required marks what the default isolation cannot run without.
	Required bool
}
