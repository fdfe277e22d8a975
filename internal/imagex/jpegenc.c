/* See jpegenc.h for why this file exists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>

#include <jpeglib.h>
#include <jerror.h>

#include "jpegenc.h"

struct fc_jpeg_enc {
	struct jpeg_compress_struct cinfo;
	struct jpeg_error_mgr jerr;
	struct jpeg_destination_mgr dest;
	jmp_buf jmp;
	fc_enc_result res;
	/* The output buffer, kept from frame to frame so steady-state encoding
	 * does not malloc; Go copies the JPEG out after each call. */
	unsigned char *buf;
	size_t cap;
};

static long fc_live;

long fc_enc_live(void)
{
	return __atomic_load_n(&fc_live, __ATOMIC_RELAXED);
}

static void fc_enc_error_exit(j_common_ptr cinfo)
{
	fc_jpeg_enc *st = (fc_jpeg_enc *)cinfo->client_data;
	st->res.code = FC_ENC_FAILED;
	(*cinfo->err->format_message)(cinfo, st->res.msg);
	longjmp(st->jmp, 1);
}

static void fc_enc_emit_message(j_common_ptr cinfo, int msg_level)
{
	/* The compressor's warnings concern nothing we could act on. */
	(void)cinfo;
	(void)msg_level;
}

static void fc_enc_output_message(j_common_ptr cinfo)
{
	(void)cinfo; /* never print to the service's stderr */
}

/* A growing memory destination, like jpeg_mem_dest, but one whose buffer
 * outlives the encode, so the next frame reuses it. */
static void fc_dest_init(j_compress_ptr cinfo)
{
	fc_jpeg_enc *st = (fc_jpeg_enc *)cinfo->client_data;
	/* A 4:2:0 frame at ordinary qualities takes well under a byte per
	 * pixel; start there rather than grow through several reallocs. */
	size_t want = (size_t)cinfo->image_width * cinfo->image_height / 2 + 4096;
	if (st->cap < want) {
		unsigned char *b = malloc(want);
		if (b == NULL)
			ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 10);
		free(st->buf);
		st->buf = b;
		st->cap = want;
	}
	st->dest.next_output_byte = st->buf;
	st->dest.free_in_buffer = st->cap;
}

/* Called only when the whole buffer is full. */
static boolean fc_dest_grow(j_compress_ptr cinfo)
{
	fc_jpeg_enc *st = (fc_jpeg_enc *)cinfo->client_data;
	size_t ncap = st->cap * 2;
	unsigned char *b = realloc(st->buf, ncap);
	if (b == NULL)
		ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 11);
	st->buf = b;
	st->dest.next_output_byte = b + st->cap;
	st->dest.free_in_buffer = ncap - st->cap;
	st->cap = ncap;
	return TRUE;
}

static void fc_dest_term(j_compress_ptr cinfo)
{
	fc_jpeg_enc *st = (fc_jpeg_enc *)cinfo->client_data;
	st->res.out = st->buf;
	st->res.len = st->cap - st->dest.free_in_buffer;
}

fc_jpeg_enc *fc_enc_new(void)
{
	fc_jpeg_enc *st = calloc(1, sizeof *st);
	if (st == NULL)
		return NULL;
	st->cinfo.err = jpeg_std_error(&st->jerr);
	st->jerr.error_exit = fc_enc_error_exit;
	st->jerr.emit_message = fc_enc_emit_message;
	st->jerr.output_message = fc_enc_output_message;
	st->cinfo.client_data = st;
	if (setjmp(st->jmp)) {
		/* jpeg_create_compress only fails when out of memory. */
		jpeg_destroy_compress(&st->cinfo);
		free(st);
		return NULL;
	}
	jpeg_create_compress(&st->cinfo);
	st->dest.init_destination = fc_dest_init;
	st->dest.empty_output_buffer = fc_dest_grow;
	st->dest.term_destination = fc_dest_term;
	st->cinfo.dest = &st->dest;
	__atomic_add_fetch(&fc_live, 1, __ATOMIC_RELAXED);
	return st;
}

void fc_enc_free(fc_jpeg_enc *st)
{
	if (st == NULL)
		return;
	jpeg_destroy_compress(&st->cinfo);
	free(st->buf);
	free(st);
	__atomic_sub_fetch(&fc_live, 1, __ATOMIC_RELAXED);
}

fc_enc_result *fc_enc_result_of(fc_jpeg_enc *st)
{
	return &st->res;
}

void fc_enc_trim(fc_jpeg_enc *st, size_t keep)
{
	if (st->cap > keep) {
		free(st->buf);
		st->buf = NULL;
		st->cap = 0;
	}
	st->res.out = NULL;
	st->res.len = 0;
	st->res.cap = st->cap;
}

/* Settings shared by both inputs, after in_color_space is known. */
static void fc_enc_setup(j_compress_ptr cinfo, int quality, int fast)
{
	jpeg_set_defaults(cinfo);
	/* Baseline tables (quantisers clamped to 255) like Go's image/jpeg,
	 * so every decoder reads the output. */
	jpeg_set_quality(cinfo, quality, TRUE);
	cinfo->dct_method = fast ? JDCT_IFAST : JDCT_ISLOW;
	/* Standard Huffman tables: optimising them costs a second pass over
	 * the coefficients for a few per cent of size. */
	cinfo->optimize_coding = FALSE;
	if (cinfo->num_components == 3) {
		/* 4:2:0, as image/jpeg writes it (also jpeg_set_defaults' choice,
		 * pinned here so a library default cannot change the output). */
		cinfo->comp_info[0].h_samp_factor = 2;
		cinfo->comp_info[0].v_samp_factor = 2;
		cinfo->comp_info[1].h_samp_factor = 1;
		cinfo->comp_info[1].v_samp_factor = 1;
		cinfo->comp_info[2].h_samp_factor = 1;
		cinfo->comp_info[2].v_samp_factor = 1;
	}
}

static int fc_enc_begin(fc_jpeg_enc *st)
{
	memset(&st->res, 0, sizeof st->res);
	return 0;
}

static int fc_enc_end(fc_jpeg_enc *st)
{
	st->res.cap = st->cap;
	return st->res.code;
}

int fc_enc_pixels(fc_jpeg_enc *st, const unsigned char *pix, int w, int h,
                  size_t stride, int layout, int quality, int fast)
{
	j_compress_ptr cinfo = &st->cinfo;

	fc_enc_begin(st);
	if (setjmp(st->jmp)) {
		jpeg_abort_compress(cinfo);
		st->res.out = NULL;
		st->res.len = 0;
		return fc_enc_end(st);
	}
	cinfo->image_width = (JDIMENSION)w;
	cinfo->image_height = (JDIMENSION)h;
	switch (layout) {
	case FC_IN_RGBX:
		cinfo->in_color_space = JCS_EXT_RGBX;
		cinfo->input_components = 4;
		break;
	case FC_IN_GRAY:
		cinfo->in_color_space = JCS_GRAYSCALE;
		cinfo->input_components = 1;
		break;
	default:
		cinfo->in_color_space = JCS_RGB;
		cinfo->input_components = 3;
	}
	cinfo->raw_data_in = FALSE;
	fc_enc_setup(cinfo, quality, fast);
	jpeg_start_compress(cinfo, TRUE);
	while (cinfo->next_scanline < cinfo->image_height) {
		JSAMPROW rows[16];
		JDIMENSION n = cinfo->image_height - cinfo->next_scanline;
		JDIMENSION i;
		if (n > 16)
			n = 16;
		for (i = 0; i < n; i++)
			rows[i] = (JSAMPROW)(pix + (size_t)(cinfo->next_scanline + i) * stride);
		jpeg_write_scanlines(cinfo, rows, n);
	}
	jpeg_finish_compress(cinfo);
	return fc_enc_end(st);
}

/*
 * Points rows[0..n) at plane rows first, first+1, … of a plane of w×h
 * samples, repeating the last row below the image and, when libjpeg reads
 * past w (padded = width in whole blocks), copying the row into scratch
 * with its last sample repeated: the same edge extension libjpeg applies
 * to scanline input, so edge blocks compress as well as they would there.
 */
static void fc_plane_rows(JSAMPROW *rows, int n, const unsigned char *plane,
                          size_t stride, int w, int h, int first,
                          int padded, JSAMPARRAY scratch)
{
	int i;
	for (i = 0; i < n; i++) {
		int r = first + i;
		const unsigned char *src;
		if (r >= h)
			r = h - 1;
		src = plane + (size_t)r * stride;
		if (padded == w) {
			rows[i] = (JSAMPROW)src;
		} else {
			memcpy(scratch[i], src, (size_t)w);
			memset(scratch[i] + w, src[w - 1], (size_t)(padded - w));
			rows[i] = scratch[i];
		}
	}
}

int fc_enc_ycbcr420(fc_jpeg_enc *st, const unsigned char *y, size_t ystride,
                    const unsigned char *cb, const unsigned char *cr,
                    size_t cstride, int w, int h, int quality, int fast)
{
	j_compress_ptr cinfo = &st->cinfo;
	int cw = (w + 1) / 2, ch = (h + 1) / 2;
	int ypad = (w + 7) / 8 * 8, cpad = (cw + 7) / 8 * 8;
	JSAMPARRAY ys = NULL, cbs = NULL, crs = NULL;

	fc_enc_begin(st);
	if (setjmp(st->jmp)) {
		jpeg_abort_compress(cinfo);
		st->res.out = NULL;
		st->res.len = 0;
		return fc_enc_end(st);
	}
	cinfo->image_width = (JDIMENSION)w;
	cinfo->image_height = (JDIMENSION)h;
	cinfo->in_color_space = JCS_YCbCr;
	cinfo->input_components = 3;
	fc_enc_setup(cinfo, quality, fast);
	cinfo->raw_data_in = TRUE;
	jpeg_start_compress(cinfo, TRUE);
	if (ypad != w)
		ys = (*cinfo->mem->alloc_sarray)((j_common_ptr)cinfo, JPOOL_IMAGE,
		                                 (JDIMENSION)ypad, 16);
	if (cpad != cw) {
		cbs = (*cinfo->mem->alloc_sarray)((j_common_ptr)cinfo, JPOOL_IMAGE,
		                                  (JDIMENSION)cpad, 8);
		crs = (*cinfo->mem->alloc_sarray)((j_common_ptr)cinfo, JPOOL_IMAGE,
		                                  (JDIMENSION)cpad, 8);
	}
	while (cinfo->next_scanline < cinfo->image_height) {
		JSAMPROW yrows[16], cbrows[8], crrows[8];
		JSAMPARRAY planes[3];
		int line = (int)cinfo->next_scanline;
		fc_plane_rows(yrows, 16, y, ystride, w, h, line, ypad, ys);
		fc_plane_rows(cbrows, 8, cb, cstride, cw, ch, line / 2, cpad, cbs);
		fc_plane_rows(crrows, 8, cr, cstride, cw, ch, line / 2, cpad, crs);
		planes[0] = yrows;
		planes[1] = cbrows;
		planes[2] = crrows;
		if (jpeg_write_raw_data(cinfo, planes, 16) != 16)
			ERREXIT(cinfo, JERR_BAD_STATE); /* cannot happen without suspension */
	}
	jpeg_finish_compress(cinfo);
	return fc_enc_end(st);
}
