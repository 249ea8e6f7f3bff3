package trust

// Test-only helpers: callers read Result.Signer.

// SignerName is the signer's key name, or Unsigned.
func (r *Result) SignerName() string {
	if r.Signer.Name == "" {
		return Unsigned
	}
	return r.Signer.Name
}
