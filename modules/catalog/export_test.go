package catalog

// Test-only views of a Catalog: callers know the home they opened it in.

// Home is the catalog's state directory.
func (c *Catalog) Home() string { return c.home }
