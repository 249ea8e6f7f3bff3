package fleet

// ConnectedURL is the server a client is connected to now, for the
// cluster test's failover.
func ConnectedURL(c *Client) string { return c.nc.ConnectedUrl() }

// NumRoutes is how many cluster routes a controller's server has.
func NumRoutes(c *Controller) int { return c.srv.NumRoutes() }
