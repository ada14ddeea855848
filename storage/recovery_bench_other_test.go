//go:build !linux

package storage

import "testing"

func evictPageCache(tb testing.TB, dir string) { tb.Skip("GREGOR_RECOVERY_COLD needs Linux") }
