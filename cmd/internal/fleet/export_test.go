package fleet

// ConnectedURL is the server a client is connected to now, for the
// cluster test's failover.
func ConnectedURL(c *Client) string { return c.nc.ConnectedUrl() }
