package isolation

// CloseInheritedFDs has nothing to do on Windows, where handles are not
// inherited unless marked inheritable.
func CloseInheritedFDs() {}
