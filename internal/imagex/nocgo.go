//go:build !cgo

package imagex

// JPEG decoding is libjpeg-turbo through cgo, with no pure-Go fallback on
// purpose: image/jpeg is several times over the frame budget. This
// undefined name turns a CGO_ENABLED=0 build into a readable error.
var _ = imagex_needs_cgo__build_with_CGO_ENABLED_1_and_install_libjpeg_dev
