package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"
)

// Manifest records what `models fetch` installed, so `models list` can show
// versions and hashes and a later fetch can tell what is up to date.
type Manifest struct {
	Schema    string          `json:"schema"`
	UpdatedAt time.Time       `json:"updated_at"`
	Packages  []PackageRecord `json:"packages"`
	Files     []FileRecord    `json:"files"`
}

// PackageRecord is one verified tarball.
type PackageRecord struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Tarball string `json:"tarball"`
	SHA256  string `json:"sha256"`
}

// FileRecord is one installed file, relative to the cache directory.
type FileRecord struct {
	Path   string `json:"path"`
	From   string `json:"from"` // package spec, or "converted from X"
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

const manifestSchema = "framecast.manifest.v1"

// ReadManifest loads the manifest; a missing one is an empty manifest.
func ReadManifest(p Paths) (*Manifest, error) {
	b, err := os.ReadFile(p.Manifest())
	if os.IsNotExist(err) {
		return &Manifest{Schema: manifestSchema}, nil
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w (delete it and run `framecast models fetch` again)", p.Manifest(), err)
	}
	return &m, nil
}

func (m *Manifest) write(p Paths) error {
	m.Schema = manifestSchema
	m.UpdatedAt = time.Now().UTC().Truncate(time.Second)
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(p.Manifest(), append(b, '\n'))
}

func (m *Manifest) setPackage(r PackageRecord) {
	for i := range m.Packages {
		if m.Packages[i].Name == r.Name {
			m.Packages[i] = r
			return
		}
	}
	m.Packages = append(m.Packages, r)
}

func (m *Manifest) setFile(r FileRecord) {
	for i := range m.Files {
		if m.Files[i].Path == r.Path {
			m.Files[i] = r
			return
		}
	}
	m.Files = append(m.Files, r)
}

// File returns the record of a path relative to the cache, if any.
func (m *Manifest) File(rel string) (FileRecord, bool) {
	for _, f := range m.Files {
		if f.Path == rel {
			return f, true
		}
	}
	return FileRecord{}, false
}

// FileSHA256 hashes a file.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// writeFileAtomic writes via a temporary file and rename, so an interrupted
// fetch never leaves a half-written model that a later run would trust.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// WriteStatus writes what the manifest lists, as `framecast models list`
// prints it: the packages, then every file with its size, hash and whether
// the copy in the cache is intact (ok, MISSING, MODIFIED, unreadable).
func (m *Manifest) WriteStatus(out io.Writer, p Paths) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "cache: %s\n\nPACKAGE\tVERSION\tTARBALL SHA256\n", p.Home)
	for _, pk := range m.Packages {
		fmt.Fprintf(w, "%s\t%s\t%s\n", pk.Name, pk.Version, pk.SHA256)
	}
	fmt.Fprintf(w, "\nFILE\tSIZE\tSHA256\tSTATUS\tFROM\n")
	for _, f := range m.Files {
		status := "ok"
		sum, _, err := FileSHA256(filepath.Join(p.Home, f.Path))
		switch {
		case os.IsNotExist(err):
			status = "MISSING"
		case err != nil:
			status = "unreadable"
		case sum != f.SHA256:
			status = "MODIFIED"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", f.Path, f.Size, f.SHA256, status, f.From)
	}
	return w.Flush()
}

// Install writes a file made on this machine (a quantised model) into the
// cache at rel and records it in the manifest with where it came from. The
// file is rewritten only when its content changes.
func Install(p Paths, rel string, data []byte, from string) error {
	m, err := ReadManifest(p)
	if err != nil {
		return err
	}
	path := filepath.Join(p.Home, rel)
	if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, data) {
		if err := writeFileAtomic(path, data); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	sum, n, err := FileSHA256(path)
	if err != nil {
		return err
	}
	m.setFile(FileRecord{Path: filepath.ToSlash(rel), From: from, Size: n, SHA256: sum})
	if err := m.write(p); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}
