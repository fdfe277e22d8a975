/*
 * Thin C layer over libjpeg(-turbo) for package imagex.
 *
 * It exists so that one cgo call does a whole decode: libjpeg reports fatal
 * errors through a callback that must not return, which only C can turn
 * into an ordinary return value (setjmp/longjmp); doing the same from Go
 * would unwind Go frames through C and is not allowed.
 */
#ifndef FRAMECAST_IMAGEX_JPEGSHIM_H
#define FRAMECAST_IMAGEX_JPEGSHIM_H

#include <stddef.h>

/* Result codes of fc_jpeg_decode; mirrored in decoder.go. */
enum {
	FC_OK = 0,
	FC_CORRUPT = 1,     /* libjpeg error or a warning that means damaged data */
	FC_TRUNCATED = 2,   /* data ended before the image was complete */
	FC_TOO_LARGE = 3,   /* header dimensions exceed max_pixels */
	FC_NEED_BUFFER = 4, /* out is smaller than out_w*out_h*3; nothing decoded */
	FC_UNSUPPORTED = 5  /* valid JPEG that this libjpeg build cannot decode */
};

#define FC_MSG_LEN 200 /* JMSG_LENGTH_MAX */

/* Filled by every fc_jpeg_decode call; lives in C memory so Go can read it
 * after the call without allocating. */
typedef struct {
	int code;
	int src_w, src_h; /* dimensions declared by the frame header */
	int out_w, out_h; /* dimensions of the (possibly scaled) output */
	char msg[FC_MSG_LEN];
} fc_result;

typedef struct fc_jpeg fc_jpeg;

/* fc_jpeg_new returns NULL only if malloc fails. */
fc_jpeg *fc_jpeg_new(void);
void fc_jpeg_free(fc_jpeg *st);
fc_result *fc_jpeg_result(fc_jpeg *st);

/*
 * fc_jpeg_decode decodes data into out as packed RGB (no row padding),
 * scaled by 1/denom in the DCT domain (denom is 1, 2, 4 or 8).
 * It never keeps data or out after returning.
 */
int fc_jpeg_decode(fc_jpeg *st, const unsigned char *data, size_t len,
                   unsigned char *out, size_t outcap, int denom,
                   long long max_pixels);

#endif
