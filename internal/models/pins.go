package models

// Package is one pinned npm package. The sha256 is of the tarball `npm pack`
// writes; it is checked before anything is extracted, so a changed or
// tampered registry copy is refused instead of silently used.
type Package struct {
	Name    string // npm name
	Version string // exact version
	SHA256  string // of the .tgz
	// Files maps a path inside the tarball to a path relative to the cache
	// directory.
	Files map[string]string
}

// Spec is the argument to `npm pack`.
func (p Package) Spec() string { return p.Name + "@" + p.Version }

// Tarball is the file name `npm pack` gives the package.
func (p Package) Tarball() string {
	n := p.Name
	if n[0] == '@' {
		n = n[1:]
	}
	out := make([]byte, 0, len(n))
	for i := 0; i < len(n); i++ {
		if n[i] == '/' {
			out = append(out, '-')
		} else {
			out = append(out, n[i])
		}
	}
	return string(out) + "-" + p.Version + ".tgz"
}

// Versions of what framecast installs. onnxruntime-node 1.24.x carries the
// C API (v24) that github.com/yalue/onnxruntime_go v1.27 is built against.
const (
	HumanVersion   = "3.3.6"
	ORTVersion     = "1.24.3"
	FaceAPIVersion = "1.7.15"
)

// Pinned lists the packages `framecast models fetch` installs.
func Pinned() []Package {
	return []Package{
		{
			Name: "@vladmandic/human", Version: HumanVersion,
			SHA256: "425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7",
			Files: map[string]string{
				"package/models/blazeface.json": "models/blazeface.json",
				"package/models/blazeface.bin":  "models/blazeface.bin",
				"package/models/emotion.json":   "models/emotion.json",
				"package/models/emotion.bin":    "models/emotion.bin",
				"package/LICENSE":               "models/LICENSE.human",
			},
		},
		{
			Name: "onnxruntime-node", Version: ORTVersion,
			SHA256: "aa1bb5fa261ea68de05dd53efbba210cd7adf2d2850f4c3a201054c74cc78040",
			Files: map[string]string{
				"package/bin/napi-v6/linux/" + ortArch() + "/libonnxruntime.so.1": "lib/libonnxruntime.so.1",
			},
		},
		{
			Name: "@vladmandic/face-api", Version: FaceAPIVersion,
			SHA256: "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
			Files: map[string]string{
				"package/demo/sample1.jpg": "images/face-api/sample1.jpg",
				"package/demo/sample2.jpg": "images/face-api/sample2.jpg",
				"package/demo/sample3.jpg": "images/face-api/sample3.jpg",
				"package/demo/sample4.jpg": "images/face-api/sample4.jpg",
				"package/demo/sample5.jpg": "images/face-api/sample5.jpg",
				"package/demo/sample6.jpg": "images/face-api/sample6.jpg",
			},
		},
	}
}
