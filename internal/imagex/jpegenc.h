/*
 * Thin C layer over libjpeg(-turbo) compression for package imagex; see
 * jpegshim.h for why one cgo call does a whole encode (setjmp/longjmp).
 */
#ifndef FRAMECAST_IMAGEX_JPEGENC_H
#define FRAMECAST_IMAGEX_JPEGENC_H

#include <stddef.h>

/* Input layouts of fc_enc_pixels; mirrored in encoder.go. */
enum {
	FC_IN_RGB = 0,  /* packed R, G, B */
	FC_IN_RGBX = 1, /* R, G, B and a fourth byte that is ignored */
	FC_IN_GRAY = 2  /* one byte per pixel; encoded as a greyscale JPEG */
};

/* Result codes; mirrored in encoder.go. */
enum {
	FC_ENC_OK = 0,
	FC_ENC_FAILED = 1, /* libjpeg error (bad parameters, out of memory) */
	FC_ENC_NOMEM = 2   /* malloc failed outside libjpeg */
};

#define FC_ENC_MSG_LEN 200 /* JMSG_LENGTH_MAX */

/* Filled by every encode; in C memory so Go can read it without
 * allocating. out/len is the JPEG, valid until the next call on the same
 * encoder. */
typedef struct {
	int code;
	const unsigned char *out;
	size_t len;
	size_t cap; /* size of the output buffer the encoder holds */
	char msg[FC_ENC_MSG_LEN];
} fc_enc_result;

typedef struct fc_jpeg_enc fc_jpeg_enc;

/* fc_enc_new returns NULL only if malloc fails. */
fc_jpeg_enc *fc_enc_new(void);
void fc_enc_free(fc_jpeg_enc *st);
fc_enc_result *fc_enc_result_of(fc_jpeg_enc *st);
/* fc_enc_trim drops the output buffer if it is larger than keep bytes. */
void fc_enc_trim(fc_jpeg_enc *st, size_t keep);
/* fc_enc_live counts encoders created and not yet freed (for tests). */
long fc_enc_live(void);

/*
 * fc_enc_pixels encodes a w×h image whose rows start stride bytes apart,
 * colour as YCbCr 4:2:0 (libjpeg converts and downsamples), grey as one
 * component. fast selects JDCT_IFAST instead of JDCT_ISLOW.
 * It never keeps pix after returning.
 */
int fc_enc_pixels(fc_jpeg_enc *st, const unsigned char *pix, int w, int h,
                  size_t stride, int layout, int quality, int fast);

/*
 * fc_enc_ycbcr420 encodes planes that are already YCbCr 4:2:0 (the layout
 * of Go's image.YCbCr with YCbCrSubsampleRatio420: chroma planes of
 * ceil(w/2)×ceil(h/2)) as they are, with libjpeg's raw-data interface:
 * no colour conversion, no downsampling. It never keeps the planes after
 * returning.
 */
int fc_enc_ycbcr420(fc_jpeg_enc *st, const unsigned char *y, size_t ystride,
                    const unsigned char *cb, const unsigned char *cr,
                    size_t cstride, int w, int h, int quality, int fast);

#endif
