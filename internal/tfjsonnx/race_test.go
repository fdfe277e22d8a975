//go:build race

package tfjsonnx

func init() { raceEnabled = true }
