//go:build !unix

package supervisor

import "os"

type fileID struct{}

func identity(os.FileInfo) (fileID, bool) { return fileID{}, false }
