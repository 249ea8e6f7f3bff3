package store

// RecordReads reports how many version records the store has read, for
// the test that an install does not read every installed version's.
func RecordReads() int64 { return recordReads.Load() }
