/* See jpegshim.h for why this file exists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>

#include <jpeglib.h>
#include <jerror.h>

#include "jpegshim.h"

/*
 * A progressive JPEG can carry thousands of tiny scans, each of which makes
 * libjpeg walk every block of the image again: a few KiB of input can cost
 * seconds of CPU. Real encoders emit about ten scans; TurboJPEG recommends
 * limiting to 500.
 */
#define FC_MAX_SCANS 500

struct fc_jpeg {
	struct jpeg_decompress_struct cinfo;
	struct jpeg_error_mgr jerr;
	struct jpeg_progress_mgr progress;
	jmp_buf jmp;
	fc_result res;
};

static void fc_fail(j_common_ptr cinfo, int code)
{
	fc_jpeg *st = (fc_jpeg *)cinfo->client_data;
	st->res.code = code;
	(*cinfo->err->format_message)(cinfo, st->res.msg);
	longjmp(st->jmp, 1);
}

/* Replaces libjpeg's default, which prints and calls exit(). */
static void fc_error_exit(j_common_ptr cinfo)
{
	switch (cinfo->err->msg_code) {
	case JERR_BAD_PRECISION:
	case JERR_CONVERSION_NOTIMPL:
	case JERR_NOT_COMPILED:
	case JERR_ARITH_NOTIMPL:
	case JERR_SOF_UNSUPPORTED:
	case JERR_FRACT_SAMPLE_NOTIMPL:
		fc_fail(cinfo, FC_UNSUPPORTED);
		break;
	default:
		fc_fail(cinfo, FC_CORRUPT);
	}
}

/*
 * libjpeg only warns when data is missing or damaged and then fills the rest
 * of the image with grey. For analytics a half-grey frame is worse than no
 * frame, so those warnings abort the decode. Harmless ones (extraneous bytes
 * between markers, odd JFIF versions, bad ICC data we do not use) are
 * ignored.
 */
static void fc_emit_message(j_common_ptr cinfo, int msg_level)
{
	if (msg_level >= 0)
		return; /* trace messages */
	switch (cinfo->err->msg_code) {
	case JWRN_JPEG_EOF:
		fc_fail(cinfo, FC_TRUNCATED);
		break;
	case JWRN_HIT_MARKER:
	case JWRN_HUFF_BAD_CODE:
	case JWRN_ARITH_BAD_CODE:
	case JWRN_MUST_RESYNC:
		fc_fail(cinfo, FC_CORRUPT);
		break;
	default:
		cinfo->err->num_warnings++;
	}
}

static void fc_output_message(j_common_ptr cinfo)
{
	(void)cinfo; /* never print to the service's stderr */
}

static void fc_progress(j_common_ptr cinfo)
{
	j_decompress_ptr d = (j_decompress_ptr)cinfo;
	fc_jpeg *st = (fc_jpeg *)cinfo->client_data;
	if (d->input_scan_number > FC_MAX_SCANS) {
		st->res.code = FC_CORRUPT;
		snprintf(st->res.msg, sizeof st->res.msg,
		         "progressive JPEG has more than %d scans", FC_MAX_SCANS);
		longjmp(st->jmp, 1);
	}
}

fc_jpeg *fc_jpeg_new(void)
{
	fc_jpeg *st = calloc(1, sizeof *st);
	if (st == NULL)
		return NULL;
	st->cinfo.err = jpeg_std_error(&st->jerr);
	st->jerr.error_exit = fc_error_exit;
	st->jerr.emit_message = fc_emit_message;
	st->jerr.output_message = fc_output_message;
	st->cinfo.client_data = st;
	if (setjmp(st->jmp)) {
		/* jpeg_create_decompress only fails when out of memory. */
		jpeg_destroy_decompress(&st->cinfo);
		free(st);
		return NULL;
	}
	jpeg_create_decompress(&st->cinfo);
	st->progress.progress_monitor = fc_progress;
	st->cinfo.progress = &st->progress;
	return st;
}

void fc_jpeg_free(fc_jpeg *st)
{
	if (st == NULL)
		return;
	jpeg_destroy_decompress(&st->cinfo);
	free(st);
}

fc_result *fc_jpeg_result(fc_jpeg *st)
{
	return &st->res;
}

/* Honours the cgo noescape promise: no Go pointer survives the call. */
static void fc_forget_input(j_decompress_ptr cinfo)
{
	if (cinfo->src != NULL) {
		cinfo->src->next_input_byte = NULL;
		cinfo->src->bytes_in_buffer = 0;
	}
}

/*
 * Same arithmetic as Go's color.CMYKToRGB so both decoders agree exactly.
 * Adobe writes CMYK inverted (0 = full ink), everyone else does not.
 */
static void fc_cmyk_row(const JSAMPLE *in, unsigned char *out, JDIMENSION w,
                        int inverted)
{
	JDIMENSION x;
	for (x = 0; x < w; x++, in += 4, out += 3) {
		unsigned int c = in[0], m = in[1], y = in[2], k = in[3];
		unsigned int wk;
		if (!inverted) {
			c = 255 - c;
			m = 255 - m;
			y = 255 - y;
			k = 255 - k;
		}
		/* c here is 255 - C, so 0xffff - C*0x101 == c*0x101. */
		wk = k * 0x101;
		out[0] = (unsigned char)(((c * 0x101) * wk / 0xffff) >> 8);
		out[1] = (unsigned char)(((m * 0x101) * wk / 0xffff) >> 8);
		out[2] = (unsigned char)(((y * 0x101) * wk / 0xffff) >> 8);
	}
}

int fc_jpeg_decode(fc_jpeg *st, const unsigned char *data, size_t len,
                   unsigned char *out, size_t outcap, int denom,
                   long long max_pixels)
{
	j_decompress_ptr cinfo = &st->cinfo;
	size_t stride;
	int cmyk;

	memset(&st->res, 0, sizeof st->res);
	if (setjmp(st->jmp)) {
		jpeg_abort_decompress(cinfo);
		fc_forget_input(cinfo);
		return st->res.code;
	}

	jpeg_mem_src(cinfo, data, (unsigned long)len);
	jpeg_read_header(cinfo, TRUE);
	st->res.src_w = (int)cinfo->image_width;
	st->res.src_h = (int)cinfo->image_height;
	if ((long long)cinfo->image_width * (long long)cinfo->image_height >
	    max_pixels) {
		st->res.code = FC_TOO_LARGE;
		snprintf(st->res.msg, sizeof st->res.msg,
		         "JPEG is %ux%u", cinfo->image_width, cinfo->image_height);
		longjmp(st->jmp, 1);
	}

	cmyk = cinfo->jpeg_color_space == JCS_CMYK ||
	       cinfo->jpeg_color_space == JCS_YCCK;
	cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
	cinfo->scale_num = 1;
	cinfo->scale_denom = (unsigned int)denom;
	/* Pin the accurate defaults so output is bit-stable across builds. */
	cinfo->dct_method = JDCT_ISLOW;
	cinfo->do_fancy_upsampling = TRUE;
	jpeg_calc_output_dimensions(cinfo);
	st->res.out_w = (int)cinfo->output_width;
	st->res.out_h = (int)cinfo->output_height;
	stride = (size_t)cinfo->output_width * 3;
	if (stride * cinfo->output_height > outcap) {
		st->res.code = FC_NEED_BUFFER;
		longjmp(st->jmp, 1);
	}

	jpeg_start_decompress(cinfo);
	if (!cmyk) {
		while (cinfo->output_scanline < cinfo->output_height) {
			JSAMPROW rows[16];
			JDIMENSION n = cinfo->output_height - cinfo->output_scanline;
			JDIMENSION i;
			if (n > 16)
				n = 16;
			for (i = 0; i < n; i++)
				rows[i] = out + (size_t)(cinfo->output_scanline + i) * stride;
			if (jpeg_read_scanlines(cinfo, rows, n) == 0)
				ERREXIT(cinfo, JERR_INPUT_EOF); /* cannot happen with a memory source */
		}
	} else {
		JSAMPARRAY row = (*cinfo->mem->alloc_sarray)(
			(j_common_ptr)cinfo, JPOOL_IMAGE, cinfo->output_width * 4, 1);
		while (cinfo->output_scanline < cinfo->output_height) {
			unsigned char *dst = out + (size_t)cinfo->output_scanline * stride;
			if (jpeg_read_scanlines(cinfo, row, 1) == 0)
				ERREXIT(cinfo, JERR_INPUT_EOF);
			fc_cmyk_row(row[0], dst, cinfo->output_width,
			            cinfo->saw_Adobe_marker);
		}
	}
	/* Reads up to EOI, so a file cut after the last scan is still caught. */
	jpeg_finish_decompress(cinfo);
	fc_forget_input(cinfo);
	return FC_OK;
}
