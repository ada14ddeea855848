// Command inspect prints the stored record batch headers of one partition
// as JSON lines, for the Python and shell scenarios to check what gregor
// really stored (codec, producer id, sequence).
//
//	inspect TOPIC PARTITION   (broker from COMPAT_BOOTSTRAP)
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"gregor/compat-tests/internal/compat"
)

func main() {
	if len(os.Args) != 3 && (len(os.Args) != 4 || os.Args[3] != "txn") {
		fmt.Fprintln(os.Stderr, "usage: inspect TOPIC PARTITION [txn]")
		os.Exit(2)
	}
	p, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	if len(os.Args) == 4 {
		tp, err := compat.FetchTxnPartition(os.Args[1], int32(p))
		if err != nil {
			fmt.Fprintln(os.Stderr, "inspect:", err)
			os.Exit(1)
		}
		_ = enc.Encode(tp)
		return
	}
	bs, err := compat.FetchBatches(os.Args[1], int32(p))
	if err != nil {
		fmt.Fprintln(os.Stderr, "inspect:", err)
		os.Exit(1)
	}
	for _, b := range bs {
		_ = enc.Encode(b)
	}
}
