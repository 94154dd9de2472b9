// Command gen writes hookstream's OpenAPI document to the file named by -o.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hookstream/hookstream/internal/openapidoc"
)

func main() {
	out := flag.String("o", "openapi.json", "the file to write")
	flag.Parse()
	data, err := openapidoc.JSON()
	if err == nil {
		err = os.WriteFile(*out, data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapidoc:", err)
		os.Exit(1)
	}
}
