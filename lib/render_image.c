// RGB images and their PNG files (W3C PNG specification, 2nd ed.; ISO/IEC 15948:2003) through
// libpng. libpng allocates through the dp allocator hook (png_create_*_struct_2) and reports
// errors by longjmp; each setjmp sits in a small function whose locals are not modified after
// it, so nothing is clobbered, and the caller maps the outcome to a dpStatus.
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "dp/dp.h"

#define IMAGE_MIN 16
#define IMAGE_MAX 8192
#define READ_MAX 16384  // largest width or height dp_image_read_png accepts

// What the libpng callbacks learned: an allocation failed, and libpng's last message.
typedef struct pngCtx {
  int nomem;
  char msg[160];
} pngCtx;

static png_voidp png_alloc_cb(png_structp png, png_alloc_size_t n) {
  void *p = dp_malloc(n);
  if (p == NULL) {
    pngCtx *ctx = png_get_mem_ptr(png);
    if (ctx != NULL) {
      ctx->nomem = 1;
    }
  }
  return p;
}

static void png_free_cb(png_structp png, png_voidp p) {
  (void)png;
  dp_free(p);
}

static void png_error_cb(png_structp png, png_const_charp msg) {
  pngCtx *ctx = png_get_error_ptr(png);
  if (ctx != NULL) {
    snprintf(ctx->msg, sizeof ctx->msg, "%s", msg);
  }
  png_longjmp(png, 1);
}

// The library never prints; warnings (e.g. a bad ancillary chunk) are dropped.
static void png_warning_cb(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

// An image of any size >= 1 (the public constructor checks the range).
static dpStatus image_alloc(int width, int height, dpImage **out, dpError *err) {
  *out = NULL;
  dpImage *img = dp_malloc(sizeof *img);
  size_t n = (size_t)width * (size_t)height * 3;
  unsigned char *rgb = img != NULL ? dp_malloc(n) : NULL;
  if (rgb == NULL) {
    dp_free(img);
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory for a %d x %d image", width,
                        height);
  }
  memset(rgb, 0xFF, n);
  img->width = width;
  img->height = height;
  img->rgb = rgb;
  *out = img;
  return DP_OK;
}

dpStatus dp_image_new(int width, int height, dpImage **out, dpError *err) {
  *out = NULL;
  if (width < IMAGE_MIN || width > IMAGE_MAX || height < IMAGE_MIN || height > IMAGE_MAX) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "image size %d x %d is outside %d..%d pixels", width, height, IMAGE_MIN,
                        IMAGE_MAX);
  }
  return image_alloc(width, height, out, err);
}

void dp_image_free(dpImage *img) {
  if (img != NULL) {
    dp_free(img->rgb);
    dp_free(img);
  }
}

// The libpng calls of a write. Returns 0, or 1 after a libpng error.
static int png_write_all(png_structp png, png_infop info, FILE *f, const dpImage *img,
                         png_bytep *rows) {
  if (setjmp(png_jmpbuf(png))) {
    return 1;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, NULL);
  return 0;
}

dpStatus dp_image_write_png(const dpImage *img, const char *path, dpError *err) {
  if (img == NULL || img->rgb == NULL || img->width < 1 || img->height < 1 ||
      img->width > READ_MAX || img->height > READ_MAX) {
    return dp_error_set(err, DP_ERR_INVALID, path, 0, 0, "no image to write to '%s'",
                        path != NULL ? path : "");
  }
  dpAtomicFile a;
  dpStatus st = dp_atomic_open(&a, path, err);
  if (st != DP_OK) {
    return st;
  }
  pngCtx ctx = {0, ""};
  png_structp png = NULL;
  png_infop info = NULL;
  png_bytep *rows = dp_malloc((size_t)img->height * sizeof *rows);
  if (rows == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "'%s': out of memory", path);
    goto done;
  }
  for (int y = 0; y < img->height; y++) {
    rows[y] = img->rgb + (size_t)y * (size_t)img->width * 3;
  }
  png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, &ctx, png_error_cb, png_warning_cb, &ctx,
                                  png_alloc_cb, png_free_cb);
  info = png != NULL ? png_create_info_struct(png) : NULL;
  if (info == NULL) {
    st = ctx.nomem ? dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "'%s': out of memory", path)
                   : dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot start libpng for '%s'", path);
    goto done;
  }
  if (png_write_all(png, info, a.f, img, rows) != 0) {
    st = ctx.nomem ? dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "'%s': out of memory", path)
                   : dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot write '%s': %s", path,
                                  ctx.msg[0] != '\0' ? ctx.msg : "libpng error");
    goto done;
  }
  png_destroy_write_struct(&png, &info);
  st = dp_atomic_commit(&a, err);  // releases a, success or not
done:
  if (png != NULL) {
    png_destroy_write_struct(&png, info != NULL ? &info : NULL);
  }
  dp_free(rows);
  dp_atomic_abort(&a);
  return st;
}

// The libpng calls of a read, converting any PNG to 8-bit RGB. *img and *rows receive the
// allocations (the caller frees them whatever happens). Returns 0, 1 after a libpng error, or
// 2 when an allocation of ours failed.
static int png_read_all(png_structp png, png_infop info, FILE *f, dpImage **img, png_bytep **rows) {
  if (setjmp(png_jmpbuf(png))) {
    return 1;
  }
  png_init_io(png, f);
  png_set_sig_bytes(png, 8);
  png_set_user_limits(png, READ_MAX, READ_MAX);
  png_read_info(png, info);
  int color = png_get_color_type(png, info);
  int depth = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) {
    png_set_palette_to_rgb(png);
  }
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  if (depth == 16) {
    png_set_strip_16(png);
  }
  if (color & PNG_COLOR_MASK_ALPHA) {
    png_set_strip_alpha(png);
  }
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_gray_to_rgb(png);
  }
  (void)png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
  if (png_get_rowbytes(png, info) != (size_t)w * 3) {
    png_error(png, "unsupported pixel format");
  }
  if (image_alloc(w, h, img, NULL) != DP_OK) {
    return 2;
  }
  *rows = dp_malloc((size_t)h * sizeof **rows);
  if (*rows == NULL) {
    return 2;
  }
  for (int y = 0; y < h; y++) {
    (*rows)[y] = (*img)->rgb + (size_t)y * (size_t)w * 3;
  }
  png_read_image(png, *rows);
  png_read_end(png, NULL);
  return 0;
}

dpStatus dp_image_read_png(const char *path, dpImage **out, dpError *err) {
  *out = NULL;
  if (path == NULL || path[0] == '\0') {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "image path is empty");
  }
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot open '%s': %s", path, strerror(errno));
  }
  dpStatus st = DP_OK;
  pngCtx ctx = {0, ""};
  png_structp png = NULL;
  png_infop info = NULL;
  dpImage *img = NULL;
  png_bytep *rows = NULL;
  unsigned char sig[8];
  if (fread(sig, 1, sizeof sig, f) != sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
    st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0, "'%s' is not a PNG file", path);
    goto done;
  }
  png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &ctx, png_error_cb, png_warning_cb, &ctx,
                                 png_alloc_cb, png_free_cb);
  info = png != NULL ? png_create_info_struct(png) : NULL;
  if (info == NULL) {
    st = ctx.nomem ? dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "'%s': out of memory", path)
                   : dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot start libpng for '%s'", path);
    goto done;
  }
  int r = png_read_all(png, info, f, &img, &rows);
  if (r == 2 || (r == 1 && ctx.nomem)) {
    st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "'%s': out of memory", path);
  } else if (r == 1) {
    st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0, "'%s' is not a readable PNG: %s", path,
                      ctx.msg[0] != '\0' ? ctx.msg : "libpng error");
  }
done:
  if (png != NULL) {
    png_destroy_read_struct(&png, info != NULL ? &info : NULL, NULL);
  }
  dp_free(rows);
  fclose(f);
  if (st != DP_OK) {
    dp_image_free(img);
    return st;
  }
  *out = img;
  return DP_OK;
}
