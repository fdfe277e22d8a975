// Command framecast is real-time video analytics: faces and their emotions
// from camera frames, over Kafka. See `framecast help`.
package main

import (
	"os"

	"github.com/framecast/framecast/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
