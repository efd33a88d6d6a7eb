// Tests of the image module (lib/render_*.c): PNG round trips through libpng and read errors,
// atomic writes, plots checked pixel by pixel against the dpPlotFrame they report (linear and
// log axes, breaks, dots, automatic and explicit ranges), scene frames checked against the
// documented world-to-pixel mapping (soft bodies and shells coloured by strain), the raster
// primitives, and allocation failures.
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "io_mesh.h"
#include "render_draw.h"
#include "render_scene.h"
#include "testutil.h"

// Series colours and frame colours documented in dp.h.
#define C_SERIES0 0x1F77B4u
#define C_SERIES1 0xFF7F0Eu
#define C_PARTICLE 0x1F77B4u
#define C_PINNED 0xD62728u
#define C_GROUND 0x6B5B45u

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

static unsigned rgb_at(const dpImage *img, int x, int y) {
  ck_assert_msg(x >= 0 && x < img->width && y >= 0 && y < img->height, "pixel (%d, %d) outside", x,
                y);
  const unsigned char *p = img->rgb + 3 * ((size_t)y * (size_t)img->width + (size_t)x);
  return (unsigned)p[0] << 16 | (unsigned)p[1] << 8 | p[2];
}

// Neutral (grey, black or white): what a plot draws besides its series.
static int neutral(unsigned c) {
  return (c >> 16 & 0xFF) == (c >> 8 & 0xFF) && (c >> 8 & 0xFF) == (c & 0xFF);
}

// Whether colour col is within ±tol rows of row r in column x (the line's pixel may round
// either way; a 2-pixel line has at least one pixel of full coverage).
static int has_color_near(const dpImage *img, int x, double r, int tol, unsigned col) {
  int r0 = (int)lround(r);
  for (int y = r0 - tol; y <= r0 + tol; y++) {
    if (y >= 0 && y < img->height && rgb_at(img, x, y) == col) {
      return 1;
    }
  }
  return 0;
}

static double frame_col(const dpPlotFrame *f, double x) {
  return f->x0 + (x - f->xmin) / (f->xmax - f->xmin) * (f->x1 - f->x0);
}

static double frame_row(const dpPlotFrame *f, double y) {
  return f->y1 - (y - f->ymin) / (f->ymax - f->ymin) * (f->y1 - f->y0);
}

// Write img to path and read it back through dp_image_read_png.
static dpImage *png_round_trip(const dpImage *img, const char *path) {
  dpError err = {0};
  ck_assert_msg(dp_image_write_png(img, path, &err) == DP_OK, "%s", err.message);
  dpImage *back = NULL;
  ck_assert_msg(dp_image_read_png(path, &back, &err) == DP_OK, "%s", err.message);
  ck_assert_int_eq(back->width, img->width);
  ck_assert_int_eq(back->height, img->height);
  return back;
}

// ---------------------------------------------------------------------------------------------
// Images and PNG files
// ---------------------------------------------------------------------------------------------

START_TEST(test_image_sizes) {
  dpError err = {0};
  dpImage *img = NULL;
  ck_assert_int_eq(dp_image_new(16, 8192, &img, &err), DP_OK);
  ck_assert_int_eq(img->width, 16);
  ck_assert_int_eq(img->height, 8192);
  ck_assert_uint_eq(rgb_at(img, 15, 8191), 0xFFFFFFu);  // starts white
  dp_image_free(img);
  const int bad[4][2] = {{15, 100}, {100, 15}, {8193, 100}, {100, 0}};
  for (int i = 0; i < 4; i++) {
    dp_error_clear(&err);
    ck_assert_int_eq(dp_image_new(bad[i][0], bad[i][1], &img, &err), DP_ERR_INVALID);
    ck_assert_ptr_null(img);
    ck_assert_ptr_nonnull(strstr(err.message, "16..8192"));
  }
  dp_image_free(NULL);
}
END_TEST

START_TEST(test_png_round_trip_exact) {
  tmpDir d;
  tmpdir_make(&d, "render");
  char path[128];
  tmpdir_file(&d, "random.png", path, sizeof path);
  dpError err = {0};
  dpImage *img = NULL;
  ck_assert_int_eq(dp_image_new(53, 17, &img, &err), DP_OK);
  tu_rng r = {42};
  for (size_t i = 0; i < (size_t)53 * 17 * 3; i++) {
    img->rgb[i] = (unsigned char)tu_uniform(&r, 0, 256);
  }
  dpImage *back = png_round_trip(img, path);
  ck_assert_int_eq(memcmp(back->rgb, img->rgb, (size_t)53 * 17 * 3), 0);
  // Only the file itself: no temporary left beside it.
  char last[256] = "";
  ck_assert_int_eq(tmpdir_count(&d, last, sizeof last), 1);
  ck_assert_str_eq(last, "random.png");
  // libpng's own reader agrees (the file is a standard 8-bit RGB PNG).
  png_image pi;
  memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  ck_assert(png_image_begin_read_from_file(&pi, path));
  ck_assert_uint_eq(pi.width, 53);
  ck_assert_uint_eq(pi.height, 17);
  ck_assert_uint_eq(pi.format, PNG_FORMAT_RGB);
  unsigned char *buf = malloc(PNG_IMAGE_SIZE(pi));
  ck_assert(png_image_finish_read(&pi, NULL, buf, 0, NULL));
  ck_assert_int_eq(memcmp(buf, img->rgb, (size_t)53 * 17 * 3), 0);
  free(buf);
  // Rewriting replaces the file.
  img->rgb[0] ^= 0xFF;
  dp_image_free(back);
  back = png_round_trip(img, path);
  ck_assert_uint_eq(back->rgb[0], img->rgb[0]);
  dp_image_free(back);
  dp_image_free(img);
  tmpdir_remove(&d);
}
END_TEST

// Other PNG kinds written by libpng's simplified API: grey + alpha, RGBA, 16-bit RGB, palette.
START_TEST(test_png_read_conversions) {
  tmpDir d;
  tmpdir_make(&d, "render");
  char path[128];
  tmpdir_file(&d, "kinds.png", path, sizeof path);
  const unsigned w = 3, h = 2;
  unsigned char ga[6 * 2] = {0, 255, 100, 0, 200, 128, 7, 1, 8, 2, 9, 3};
  png_image pi;
  memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  pi.width = w;
  pi.height = h;
  pi.format = PNG_FORMAT_GA;
  ck_assert(png_image_write_to_file(&pi, path, 0, ga, 0, NULL));
  dpError err = {0};
  dpImage *img = NULL;
  ck_assert_msg(dp_image_read_png(path, &img, &err) == DP_OK, "%s", err.message);
  ck_assert_int_eq(img->width, 3);
  ck_assert_int_eq(img->height, 2);
  for (unsigned i = 0; i < w * h; i++) {  // grey replicated, alpha dropped
    for (int k = 0; k < 3; k++) {
      ck_assert_uint_eq(img->rgb[3 * i + k], ga[2 * i]);
    }
  }
  dp_image_free(img);

  unsigned char rgba[6 * 4];
  for (int i = 0; i < 24; i++) {
    rgba[i] = (unsigned char)(11 * i + 3);
  }
  memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  pi.width = w;
  pi.height = h;
  pi.format = PNG_FORMAT_RGBA;
  ck_assert(png_image_write_to_file(&pi, path, 0, rgba, 0, NULL));
  ck_assert_msg(dp_image_read_png(path, &img, &err) == DP_OK, "%s", err.message);
  for (unsigned i = 0; i < w * h; i++) {
    for (int k = 0; k < 3; k++) {
      ck_assert_uint_eq(img->rgb[3 * i + k], rgba[4 * i + k]);
    }
  }
  dp_image_free(img);

  // 16-bit linear RGB: libpng stores it as is; we keep the high byte of each sample.
  uint16_t rgb16[6 * 3];
  for (int i = 0; i < 18; i++) {
    rgb16[i] = (uint16_t)(3000 * i + 17);
  }
  memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  pi.width = w;
  pi.height = h;
  pi.format = PNG_FORMAT_LINEAR_RGB;
  ck_assert(png_image_write_to_file(&pi, path, 0, rgb16, 0, NULL));
  ck_assert_msg(dp_image_read_png(path, &img, &err) == DP_OK, "%s", err.message);
  for (int i = 0; i < 18; i++) {
    ck_assert_msg(abs((int)img->rgb[i] - (rgb16[i] >> 8)) <= 1, "sample %d: %d vs %d", i,
                  img->rgb[i], rgb16[i] >> 8);
  }
  dp_image_free(img);

  // Colour-mapped (palette) RGB.
  unsigned char idx[6] = {0, 1, 2, 2, 1, 0};
  unsigned char cmap[3 * 3] = {255, 0, 0, 0, 255, 0, 10, 20, 30};
  memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  pi.width = w;
  pi.height = h;
  pi.format = PNG_FORMAT_RGB_COLORMAP;
  pi.colormap_entries = 3;
  ck_assert(png_image_write_to_file(&pi, path, 0, idx, 0, cmap));
  ck_assert_msg(dp_image_read_png(path, &img, &err) == DP_OK, "%s", err.message);
  for (int i = 0; i < 6; i++) {
    ck_assert_int_eq(memcmp(img->rgb + 3 * i, cmap + 3 * idx[i], 3), 0);
  }
  dp_image_free(img);
  tmpdir_remove(&d);
}
END_TEST

START_TEST(test_png_read_errors) {
  tmpDir d;
  tmpdir_make(&d, "render");
  char path[128], good[128];
  dpError err = {0};
  dpImage *img = NULL;
  tmpdir_file(&d, "missing.png", path, sizeof path);
  ck_assert_int_eq(dp_image_read_png(path, &img, &err), DP_ERR_IO);
  ck_assert_ptr_null(img);
  ck_assert_str_eq(err.file, path);

  tmpdir_file(&d, "text.png", path, sizeof path);
  FILE *f = fopen(path, "wb");
  fputs("this is not an image at all", f);
  fclose(f);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_image_read_png(path, &img, &err), DP_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(err.message, "not a PNG"));

  // A valid file cut short, and one with a damaged data chunk.
  tmpdir_file(&d, "good.png", good, sizeof good);
  ck_assert_int_eq(dp_image_new(64, 64, &img, &err), DP_OK);
  tu_rng r = {7};
  for (size_t i = 0; i < (size_t)64 * 64 * 3; i++) {
    img->rgb[i] = (unsigned char)tu_uniform(&r, 0, 256);
  }
  ck_assert_int_eq(dp_image_write_png(img, good, &err), DP_OK);
  dp_image_free(img);
  img = NULL;
  f = fopen(good, "rb");
  unsigned char bytes[32768];
  size_t n = fread(bytes, 1, sizeof bytes, f);
  fclose(f);
  ck_assert_uint_gt(n, 1000);
  ck_assert_uint_lt(n, sizeof bytes);
  tmpdir_file(&d, "cut.png", path, sizeof path);
  f = fopen(path, "wb");
  fwrite(bytes, 1, n / 2, f);
  fclose(f);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_image_read_png(path, &img, &err), DP_ERR_INVALID);
  ck_assert_ptr_null(img);
  ck_assert_str_eq(err.file, path);
  bytes[n / 2] ^= 0x5A;  // inside IDAT: the chunk's CRC no longer matches
  tmpdir_file(&d, "bad.png", path, sizeof path);
  f = fopen(path, "wb");
  fwrite(bytes, 1, n, f);
  fclose(f);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_image_read_png(path, &img, &err), DP_ERR_INVALID);
  ck_assert_ptr_null(img);
  tmpdir_remove(&d);
}
END_TEST

START_TEST(test_png_write_missing_dir) {
  tmpDir d;
  tmpdir_make(&d, "render");
  char path[128];
  tmpdir_file(&d, "nope/plot.png", path, sizeof path);
  dpError err = {0};
  dpImage *img = NULL;
  ck_assert_int_eq(dp_image_new(20, 20, &img, &err), DP_OK);
  ck_assert_int_eq(dp_image_write_png(img, path, &err), DP_ERR_IO);
  ck_assert_str_eq(err.file, path);
  ck_assert_ptr_nonnull(strstr(err.message, path));
  ck_assert_int_eq(tmpdir_count(&d, NULL, 0), 0);  // nothing left behind
  dp_error_clear(&err);
  ck_assert_int_eq(dp_image_write_png(NULL, path, &err), DP_ERR_INVALID);
  dp_image_free(img);
  tmpdir_remove(&d);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// Plots
// ---------------------------------------------------------------------------------------------

// y = x on [0, 1] and y = 0.5: every pixel along the lines has the series colour where the
// frame says, and the area elsewhere is neutral.
START_TEST(test_plot_linear_pixels) {
  double x[101], yd[101], yh[101];
  for (int i = 0; i <= 100; i++) {
    x[i] = i / 100.0;
    yd[i] = x[i];
    yh[i] = 0.5;
  }
  dpPlotSeries s[2] = {{"y = x", 101, x, yd}, {"half", 101, x, yh}};
  dpPlotOptions o = dp_default_plot_options();
  o.title = "diagonal";
  o.xlabel = "x";
  o.ylabel = "y";
  dpError err = {0};
  dpImage *img = NULL;
  dpPlotFrame f;
  ck_assert_msg(dp_plot(s, 2, &o, &img, &f, &err) == DP_OK, "%s", err.message);
  ck_assert_int_eq(img->width, 800);
  ck_assert_int_eq(img->height, 500);
  ck_assert_double_eq(f.xmin, 0);
  ck_assert_double_eq(f.xmax, 1);
  ck_assert_double_eq(f.ymin, 0);
  ck_assert_double_eq(f.ymax, 1);
  ck_assert_int_gt(f.x1 - f.x0, 500);
  ck_assert_int_gt(f.y1 - f.y0, 300);
  ck_assert_int_ge(f.x0, 20);  // room for labels on every side
  ck_assert_int_le(f.x1, 790);
  ck_assert_int_ge(f.y0, 20);
  ck_assert_int_le(f.y1, 470);

  tmpDir d;
  tmpdir_make(&d, "render");
  char path[128];
  tmpdir_file(&d, "plot.png", path, sizeof path);
  dpImage *back = png_round_trip(img, path);
  dp_image_free(img);

  for (int i = 3; i <= 85; i++) {  // the legend sits at the top right
    double t = i / 100.0;
    int col = (int)lround(frame_col(&f, t));
    if (fabs(t - 0.5) > 0.03) {
      ck_assert_msg(has_color_near(back, col, frame_row(&f, t), 2, C_SERIES0),
                    "y = x: no series colour near column %d row %.1f", col, frame_row(&f, t));
    }
    ck_assert_msg(has_color_near(back, col, frame_row(&f, 0.5), 1, C_SERIES1),
                  "y = 0.5: no series colour near column %d row %.1f", col, frame_row(&f, 0.5));
    // Away from both lines: neutral background (white or grid).
    double ty = t < 0.5 ? t + 0.25 : t - 0.3;
    if (fabs(ty - 0.5) > 0.05) {
      unsigned c = rgb_at(back, col, (int)lround(frame_row(&f, ty)));
      ck_assert_msg(neutral(c) && (c & 0xFF) >= 200, "background at (%d, %.1f) is %06x", col,
                    frame_row(&f, ty), c);
    }
  }
  // The frame is drawn on the area's border; outside the area no series colour.
  ck_assert(neutral(rgb_at(back, (f.x0 + f.x1) / 2, f.y0)));
  ck_assert_uint_lt(rgb_at(back, (f.x0 + f.x1) / 2, f.y0) & 0xFF, 80);
  for (int y = 0; y < back->height; y++) {
    for (int xx = 0; xx < back->width; xx++) {
      if (xx < f.x0 - 1 || xx > f.x1 + 1 || y < f.y0 - 1 || y > f.y1 + 1) {
        unsigned c = rgb_at(back, xx, y);
        ck_assert_msg(c != C_SERIES0 && c != C_SERIES1, "series colour outside at (%d, %d)", xx, y);
      }
    }
  }
  // The legend (top right inside the area) shows both colours.
  int found0 = 0, found1 = 0;
  for (int y = f.y0; y < f.y0 + 60; y++) {
    for (int xx = f.x1 - 200; xx < f.x1; xx++) {
      found0 |= rgb_at(back, xx, y) == C_SERIES0;
      found1 |= rgb_at(back, xx, y) == C_SERIES1;
    }
  }
  ck_assert(found0 && found1);
  dp_image_free(back);
  tmpdir_remove(&d);
}
END_TEST

// y = 10^x on a log axis: a straight line in the frame's log10 units; y <= 0 points skipped.
START_TEST(test_plot_log_mapping) {
  double x[33], y[33];
  for (int i = 0; i <= 30; i++) {
    x[i] = i / 10.0;
    y[i] = pow(10, x[i]);
  }
  x[31] = 1.55;
  y[31] = 0;  // skipped, and breaks the line
  x[32] = 1.6;
  y[32] = -3;
  dpPlotSeries s = {NULL, 33, x, y};
  dpPlotOptions o = dp_default_plot_options();
  o.logy = 1;
  o.width = 640;
  o.height = 480;
  dpError err = {0};
  dpImage *img = NULL;
  dpPlotFrame f;
  ck_assert_msg(dp_plot(&s, 1, &o, &img, &f, &err) == DP_OK, "%s", err.message);
  ck_assert_double_eq(f.ymin, 0);  // decades, in log10 units
  ck_assert_double_eq(f.ymax, 3);
  ck_assert_double_eq(f.xmin, 0);
  ck_assert_double_eq(f.xmax, 3);
  for (int i = 1; i < 30; i++) {
    double xv = i / 10.0;
    int col = (int)lround(frame_col(&f, xv));
    ck_assert_msg(has_color_near(img, col, frame_row(&f, xv), 2, C_SERIES0),
                  "10^%.1f: no series colour near column %d row %.1f", xv, col, frame_row(&f, xv));
    // Where y = 10^x would be on a linear axis (e.g. y = 100 at x = 2 is ~1/3 up): nothing.
    double lin = 3.0 * pow(10, xv) / 1000.0;
    if (fabs(lin - xv) > 0.3) {
      ck_assert(neutral(rgb_at(img, col, (int)lround(frame_row(&f, lin)))));
    }
  }
  dp_image_free(img);

  // Explicit positive limits are in data units; the frame reports log10 of them.
  o.ymin = 0.5;
  o.ymax = 2000;
  ck_assert_msg(dp_plot(&s, 1, &o, &img, &f, &err) == DP_OK, "%s", err.message);
  ck_assert_double_eq_tol(f.ymin, log10(0.5), 1e-12);
  ck_assert_double_eq_tol(f.ymax, log10(2000), 1e-12);
  int col = (int)lround(frame_col(&f, 2.0));
  ck_assert(has_color_near(img, col, frame_row(&f, 2.0), 2, C_SERIES0));
  dp_image_free(img);
  // Less than a decade: still mapped in log10 units.
  o.ymin = 20;
  o.ymax = 21;
  ck_assert_msg(dp_plot(&s, 1, &o, &img, &f, &err) == DP_OK, "%s", err.message);
  ck_assert_double_eq_tol(f.ymin, log10(20), 1e-12);
  double xv = log10(20.5);
  col = (int)lround(frame_col(&f, xv));
  ck_assert(has_color_near(img, col, frame_row(&f, xv), 2, C_SERIES0));
  dp_image_free(img);
}
END_TEST

START_TEST(test_plot_breaks_and_dots) {
  double x[11], y[11];
  for (int i = 0; i <= 10; i++) {
    x[i] = i;
    y[i] = 1;
  }
  y[5] = NAN;       // a gap between x = 4 and x = 6
  y[7] = INFINITY;  // 6 and 8 alone between two breaks: dots
  y[8] = 1.5;
  y[9] = NAN;
  dpPlotSeries s = {NULL, 11, x, y};
  dpPlotOptions o = dp_default_plot_options();
  o.ymin = 0;
  o.ymax = 2;
  dpError err = {0};
  dpImage *img = NULL;
  dpPlotFrame f;
  ck_assert_msg(dp_plot(&s, 1, &o, &img, &f, &err) == DP_OK, "%s", err.message);
  ck_assert_double_eq(f.ymin, 0);
  ck_assert_double_eq(f.ymax, 2);
  ck_assert_double_eq(f.xmin, 0);
  ck_assert_double_eq(f.xmax, 10);
  double r1 = frame_row(&f, 1.0);
  ck_assert(has_color_near(img, (int)lround(frame_col(&f, 2.5)), r1, 1, C_SERIES0));
  ck_assert(has_color_near(img, (int)lround(frame_col(&f, 6.0)), r1, 1, C_SERIES0));
  for (double xv = 4.3; xv <= 5.7; xv += 0.1) {
    ck_assert_msg(!has_color_near(img, (int)lround(frame_col(&f, xv)), r1, 3, C_SERIES0),
                  "line drawn across the gap at x = %.1f", xv);
  }
  // The dot at (8, 1.5), and nothing between it and its neighbours.
  ck_assert_uint_eq(rgb_at(img, (int)lround(frame_col(&f, 8)), (int)lround(frame_row(&f, 1.5))),
                    C_SERIES0);
  ck_assert(
      !has_color_near(img, (int)lround(frame_col(&f, 7.5)), frame_row(&f, 1.25), 3, C_SERIES0));
  ck_assert(!has_color_near(img, (int)lround(frame_col(&f, 7)), r1, 3, C_SERIES0));
  dp_image_free(img);
}
END_TEST

START_TEST(test_plot_ranges) {
  dpError err = {0};
  dpImage *img = NULL;
  dpPlotFrame f;
  // Rounded out to ticks.
  double x[3] = {0, 3.6, 7.3}, y[3] = {0.13, 0.97, 0.5};
  dpPlotSeries s = {NULL, 3, x, y};
  ck_assert_int_eq(dp_plot(&s, 1, NULL, &img, &f, &err), DP_OK);
  ck_assert_double_eq(f.xmin, 0);
  ck_assert_double_eq(f.xmax, 8);
  ck_assert_double_eq_tol(f.ymin, 0, 1e-15);
  ck_assert_double_eq_tol(f.ymax, 1, 1e-15);
  dp_image_free(img);
  // Tiny values.
  double ys[3] = {1e-6, 3e-6, 5e-6};
  s.y = ys;
  ck_assert_int_eq(dp_plot(&s, 1, NULL, &img, &f, &err), DP_OK);
  ck_assert_double_eq_tol(f.ymin, 1e-6, 1e-20);
  ck_assert_double_eq_tol(f.ymax, 5e-6, 1e-20);
  dp_image_free(img);
  // Constant data and a single point get a non-empty range around the value.
  double yc[3] = {4, 4, 4};
  s.y = yc;
  ck_assert_int_eq(dp_plot(&s, 1, NULL, &img, &f, &err), DP_OK);
  ck_assert(f.ymin < 4 && f.ymax > 4 && f.ymax - f.ymin <= 2);
  dp_image_free(img);
  double y0[3] = {0, 0, 0};
  s.y = y0;
  ck_assert_int_eq(dp_plot(&s, 1, NULL, &img, &f, &err), DP_OK);
  ck_assert(f.ymin < 0 && f.ymax > 0);
  dp_image_free(img);
  double px = 2, py = 3;
  dpPlotSeries one = {"one point", 1, &px, &py};
  ck_assert_int_eq(dp_plot(&one, 1, NULL, &img, &f, &err), DP_OK);
  ck_assert(f.xmin < 2 && f.xmax > 2 && f.ymin < 3 && f.ymax > 3);
  ck_assert_uint_eq(rgb_at(img, (int)lround(frame_col(&f, 2)), (int)lround(frame_row(&f, 3))),
                    C_SERIES0);
  dp_image_free(img);
  // Explicit limits are kept as given; data beyond them is clipped to the area.
  double xe[2] = {-5, 5}, ye[2] = {20, 20};
  dpPlotSeries out = {NULL, 2, xe, ye};
  dpPlotOptions o = dp_default_plot_options();
  o.xmin = -1;
  o.xmax = 2;
  o.ymin = 0;
  o.ymax = 10;
  ck_assert_int_eq(dp_plot(&out, 1, &o, &img, &f, &err), DP_OK);
  ck_assert_double_eq(f.xmin, -1);
  ck_assert_double_eq(f.xmax, 2);
  ck_assert_double_eq(f.ymin, 0);
  ck_assert_double_eq(f.ymax, 10);
  for (size_t i = 0; i < (size_t)img->width * img->height; i++) {
    const unsigned char *p = img->rgb + 3 * i;
    ck_assert(p[0] == p[1] && p[1] == p[2]);
  }
  dp_image_free(img);
  // One explicit end: the other is automatic.
  o = dp_default_plot_options();
  o.ymin = 0;
  s.y = yc;
  ck_assert_int_eq(dp_plot(&s, 1, &o, &img, &f, &err), DP_OK);
  ck_assert_double_eq(f.ymin, 0);
  ck_assert(f.ymax >= 4 && f.ymax <= 6);
  dp_image_free(img);
  // Nine series at y = 1..9: colours cycle after eight.
  double xs[2] = {0, 1};
  double yy[9][2];
  dpPlotSeries many[9];
  for (int k = 0; k < 9; k++) {
    yy[k][0] = yy[k][1] = k + 1;
    many[k] = (dpPlotSeries){NULL, 2, xs, yy[k]};
  }
  ck_assert_int_eq(dp_plot(many, 9, NULL, &img, &f, &err), DP_OK);
  int c = (int)lround(frame_col(&f, 0.2));
  ck_assert(f.ymin <= 0 && f.ymax >= 10);
  ck_assert(has_color_near(img, c, frame_row(&f, 1), 1, C_SERIES0));
  ck_assert(has_color_near(img, c, frame_row(&f, 2), 1, C_SERIES1));
  ck_assert(has_color_near(img, c, frame_row(&f, 9), 1, C_SERIES0));
  dp_image_free(img);
}
END_TEST

START_TEST(test_plot_errors) {
  dpError err = {0};
  dpImage dummy;
  dpImage *img = &dummy;  // overwritten with NULL on failure
  double x[3] = {0, 1, 2}, y[3] = {NAN, INFINITY, -INFINITY}, ok[3] = {1, 2, 3};
  dpPlotSeries s = {NULL, 3, x, y};
  ck_assert_int_eq(dp_plot(&s, 1, NULL, &img, NULL, &err), DP_ERR_INVALID);
  ck_assert_ptr_null(img);
  ck_assert_ptr_nonnull(strstr(err.message, "no finite point"));
  dp_error_clear(&err);
  ck_assert_int_eq(dp_plot(&s, 0, NULL, &img, NULL, &err), DP_ERR_INVALID);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_plot(NULL, 1, NULL, &img, NULL, &err), DP_ERR_INVALID);
  dpPlotSeries neg = {NULL, 3, x, x};  // 0, 1, 2 on a log axis: 1 and 2 drawable
  dpPlotOptions o = dp_default_plot_options();
  o.logy = 1;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_plot(&neg, 1, &o, &img, NULL, &err), DP_OK);
  dp_image_free(img);
  double nonpos[3] = {0, -1, -2};
  neg.y = nonpos;
  ck_assert_int_eq(dp_plot(&neg, 1, &o, &img, NULL, &err), DP_ERR_INVALID);
  o.ymin = -1;  // a log limit must be positive
  s.y = ok;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_plot(&s, 1, &o, &img, NULL, &err), DP_ERR_INVALID);
  o = dp_default_plot_options();
  o.xmin = 2;
  o.xmax = 1;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_plot(&s, 1, &o, &img, NULL, &err), DP_ERR_INVALID);
  o = dp_default_plot_options();
  o.ymax = INFINITY;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_plot(&s, 1, &o, &img, NULL, &err), DP_ERR_INVALID);
  o = dp_default_plot_options();
  o.width = 60;
  o.height = 40;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_plot(&s, 1, &o, &img, NULL, &err), DP_ERR_INVALID);
  o.width = 9000;
  o.height = 500;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_plot(&s, 1, &o, &img, NULL, &err), DP_ERR_INVALID);
  dpPlotSeries nodata = {NULL, 3, NULL, ok};
  dp_error_clear(&err);
  ck_assert_int_eq(dp_plot(&nodata, 1, NULL, &img, NULL, &err), DP_ERR_INVALID);
  ck_assert_ptr_null(img);
}
END_TEST

// Every allocation of a plot and of its PNG write and read fails in turn: DP_ERR_NOMEM, nothing
// leaked, no file left behind.
START_TEST(test_alloc_failures) {
  tmpDir d;
  tmpdir_make(&d, "render");
  char path[128];
  tmpdir_file(&d, "alloc.png", path, sizeof path);
  double x[4] = {0, 1, 2, 3}, y[4] = {1, 3, 2, 4};
  dpPlotSeries s = {"data", 4, x, y};
  int completed = 0;
  for (long n = 1; n <= 400 && !completed; n++) {
    tu_fail_alloc fa = {0, n, 0};
    dpError err = {0};
    dpImage *img = NULL, *back = NULL;
    dp_set_allocator(tu_failing_alloc, &fa);
    dpStatus st = dp_plot(&s, 1, NULL, &img, NULL, &err);
    if (st == DP_OK) {
      st = dp_image_write_png(img, path, &err);
    }
    if (st == DP_OK) {
      st = dp_image_read_png(path, &back, &err);
    }
    dp_image_free(back);
    dp_image_free(img);
    dp_set_allocator(NULL, NULL);
    if (fa.count < n) {
      ck_assert_msg(st == DP_OK, "no failure injected but %s: %s", dp_status_string(st),
                    err.message);
      completed = 1;
    } else {
      ck_assert_msg(st == DP_ERR_NOMEM, "allocation %ld failed: %s (%s)", n, dp_status_string(st),
                    err.message);
    }
    ck_assert_msg(fa.live == 0, "allocation %ld: %ld blocks leaked", n, fa.live);
    char last[256] = "";
    int count = tmpdir_count(&d, last, sizeof last);
    ck_assert_msg(count == 0 || (count == 1 && strcmp(last, "alloc.png") == 0),
                  "allocation %ld: %d entries left, e.g. '%s'", n, count, last);
    unlink(path);
  }
  ck_assert(completed);
  tmpdir_remove(&d);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// Scene frames
// ---------------------------------------------------------------------------------------------

// Particles a (free) and pin (pinned) joined by a spring, a spring from a to an anchor, ground
// at z = 0.1, a box and a sphere.
static dpModel *scene_model(void) {
  dpError err = {0};
  dpModel *m = dp_model_new();
  dpParticleDef p = dp_default_particle_def();
  p.position[0] = 0.3;
  p.position[1] = -0.2;
  p.position[2] = 0.8;
  ck_assert_int_eq(dp_model_add_particle(m, "a", &p, &err), 0);
  p.position[0] = -0.4;
  p.position[1] = 0.1;
  p.position[2] = 1.2;
  p.pinned = 1;
  ck_assert_int_eq(dp_model_add_particle(m, "pin", &p, &err), 1);
  dpSpringDef s = dp_default_spring_def();
  s.a = 0;
  s.b = 1;
  s.stiffness = 10;
  ck_assert_int_eq(dp_model_add_spring(m, "s0", &s, &err), 0);
  s.b = -1;
  s.anchor[0] = 1.5;
  s.anchor[1] = 0.0;
  s.anchor[2] = 1.4;
  ck_assert_int_eq(dp_model_add_spring(m, "s1", &s, &err), 1);
  dpColliderDef g = dp_default_collider_def(DP_COLLIDER_GROUND);
  g.height = 0.1;
  ck_assert_int_eq(dp_model_add_collider(m, "ground", &g, &err), 0);
  dpColliderDef b = dp_default_collider_def(DP_COLLIDER_BOX);
  b.center[0] = 1.0;
  b.center[2] = 0.3;
  b.half_extents[0] = 0.2;
  b.half_extents[1] = 0.3;
  b.half_extents[2] = 0.2;
  ck_assert_int_eq(dp_model_add_collider(m, "box", &b, &err), 1);
  dpColliderDef sp = dp_default_collider_def(DP_COLLIDER_SPHERE);
  sp.center[0] = -0.5;
  sp.center[1] = 0.6;
  sp.center[2] = 0.4;
  sp.radius = 0.25;
  ck_assert_int_eq(dp_model_add_collider(m, "rock", &sp, &err), 2);
  ck_assert_msg(dp_model_finalize(m, &err) == DP_OK, "%s", err.message);
  return m;
}

// The documented world-to-pixel map of dp_render_frame.
typedef struct viewMap {
  int a, b;
  double s, ca, cb, u0, v0;
} viewMap;

static viewMap view_map(dpView view, const double lo[3], const double hi[3], int W, int H) {
  viewMap v;
  v.a = view == DP_VIEW_YZ ? 1 : 0;
  v.b = view == DP_VIEW_XY ? 1 : 2;
  double ea = hi[v.a] - lo[v.a], eb = hi[v.b] - lo[v.b];
  double dm = fmax(ea, eb) < 1e-9 ? 1.0 : fmax(ea, eb);
  v.s = fmin(W / (ea + 0.16 * dm), H / (eb + 0.16 * dm));
  v.ca = 0.5 * (lo[v.a] + hi[v.a]);
  v.cb = 0.5 * (lo[v.b] + hi[v.b]);
  v.u0 = 0.5 * (W - 1);
  v.v0 = 0.5 * (H - 1);
  return v;
}

static int map_col(const viewMap *v, const double *p) {
  return (int)lround(v->u0 + (p[v->a] - v->ca) * v->s);
}

static int map_row(const viewMap *v, const double *p) {
  return (int)lround(v->v0 - (p[v->b] - v->cb) * v->s);
}

START_TEST(test_render_bounds) {
  dpModel *m = scene_model();
  const double *x0 = m->theta0 + m->off.x0;
  double lo[3], hi[3];
  dp_render_bounds(m, NULL, x0, NULL, NULL, 1, lo, hi);
  // x: sphere -0.75 .. anchor 1.5; y: box -0.3 .. sphere 0.85; z: ground 0.1 .. anchor 1.4
  const double elo[3] = {-0.75, -0.3, 0.1}, ehi[3] = {1.5, 0.85, 1.4};
  for (int k = 0; k < 3; k++) {
    ck_assert_double_eq_tol(lo[k], elo[k], 1e-12);
    ck_assert_double_eq_tol(hi[k], ehi[k], 1e-12);
  }
  // More frames widen the bounds; non-finite positions are ignored.
  double frames[3 * 2 * 3];
  memcpy(frames, x0, 6 * sizeof(double));
  memcpy(frames + 6, x0, 6 * sizeof(double));
  memcpy(frames + 12, x0, 6 * sizeof(double));
  frames[6 + 0] = 3.0;   // frame 1, particle a, x
  frames[12 + 2] = NAN;  // frame 2, particle a, z
  frames[12 + 1] = -9;   // same point: ignored as a whole
  dp_render_bounds(m, NULL, frames, NULL, NULL, 3, lo, hi);
  ck_assert_double_eq(hi[0], 3.0);
  ck_assert_double_eq_tol(lo[1], -0.3, 1e-12);
  // theta given: a moved ground.
  double *th = malloc(m->ntheta * sizeof *th);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  th[m->off.cgeom] = -2.0;
  dp_render_bounds(m, th, x0, NULL, NULL, 1, lo, hi);
  ck_assert_double_eq(lo[2], -2.0);
  free(th);
  dp_model_free(m);

  // Nothing but one particle: a metre cube around it. No particles, only ground: z at the
  // ground, x and y a metre around 0.
  dpError err = {0};
  m = dp_model_new();
  dpParticleDef p = dp_default_particle_def();
  p.position[0] = 5;
  ck_assert_int_eq(dp_model_add_particle(m, "p", &p, &err), 0);
  ck_assert_int_eq(dp_model_finalize(m, &err), DP_OK);
  dp_render_bounds(m, NULL, m->theta0 + m->off.x0, NULL, NULL, 1, lo, hi);
  ck_assert_double_eq(lo[0], 4.5);
  ck_assert_double_eq(hi[0], 5.5);
  ck_assert_double_eq(hi[2] - lo[2], 1.0);
  dp_model_free(m);
  m = dp_model_new();
  dpColliderDef g = dp_default_collider_def(DP_COLLIDER_GROUND);
  g.height = 0.25;
  ck_assert_int_eq(dp_model_add_collider(m, "ground", &g, &err), 0);
  ck_assert_int_eq(dp_model_finalize(m, &err), DP_OK);
  dp_render_bounds(m, NULL, NULL, NULL, NULL, 0, lo, hi);
  ck_assert_double_eq(lo[0], -0.5);
  ck_assert_double_eq(hi[1], 0.5);
  ck_assert_double_eq(lo[2], 0.25);
  ck_assert_double_eq(hi[2], 0.25);
  dpImage *img = NULL;
  ck_assert_int_eq(dp_image_new(100, 80, &img, &err), DP_OK);
  ck_assert_int_eq(dp_render_frame(m, NULL, NULL, NULL, NULL, 0, DP_VIEW_XZ, lo, hi, img, &err),
                   DP_OK);
  viewMap v = view_map(DP_VIEW_XZ, lo, hi, 100, 80);
  const double gp[3] = {0, 0, 0.25};
  ck_assert_uint_eq(rgb_at(img, 50, map_row(&v, gp)), C_GROUND);
  dp_image_free(img);
  dp_model_free(m);
}
END_TEST

START_TEST(test_render_frame_pixels) {
  dpModel *m = scene_model();
  double x[6];
  memcpy(x, m->theta0 + m->off.x0, sizeof x);
  double lo[3], hi[3];
  dp_render_bounds(m, NULL, x, NULL, NULL, 1, lo, hi);
  tmpDir d;
  tmpdir_make(&d, "render");
  char path[128];
  dpError err = {0};
  dpImage *img = NULL;
  const int W = 400, H = 300;
  ck_assert_int_eq(dp_image_new(W, H, &img, &err), DP_OK);
  const dpView views[3] = {DP_VIEW_XZ, DP_VIEW_XY, DP_VIEW_YZ};
  for (int k = 0; k < 3; k++) {
    ck_assert_msg(
        dp_render_frame(m, NULL, x, NULL, NULL, 0.25, views[k], lo, hi, img, &err) == DP_OK,
        "%s", err.message);
    tmpdir_file(&d, "frame.png", path, sizeof path);
    dpImage *back = png_round_trip(img, path);
    viewMap v = view_map(views[k], lo, hi, W, H);
    // The whole of [lo, hi] lies inside the image, with a margin.
    const double corner_lo[3] = {lo[0], lo[1], lo[2]}, corner_hi[3] = {hi[0], hi[1], hi[2]};
    ck_assert_int_ge(map_col(&v, corner_lo), 5);
    ck_assert_int_le(map_col(&v, corner_hi), W - 6);
    ck_assert_int_le(map_row(&v, corner_lo), H - 6);
    ck_assert_int_ge(map_row(&v, corner_hi), 5);
    ck_assert_uint_eq(rgb_at(back, map_col(&v, x), map_row(&v, x)), C_PARTICLE);
    ck_assert_uint_eq(rgb_at(back, map_col(&v, x + 3), map_row(&v, x + 3)), C_PINNED);
    if (views[k] != DP_VIEW_XY) {
      // The ground line at z = 0.1, shaded below and clear above (at the left edge, away from
      // every object).
      const double gp[3] = {0, 0, 0.1};
      int row = map_row(&v, gp);
      ck_assert_uint_eq(rgb_at(back, 2, row), C_GROUND);
      ck_assert_uint_ne(rgb_at(back, 2, row + 6), 0xFFFFFFu);
      ck_assert_uint_eq(rgb_at(back, 2, row - 6), 0xFFFFFFu);
    }
    // The time label at the top left: dark pixels there.
    int dark = 0;
    for (int yy = 0; yy < 24; yy++) {
      for (int xx = 0; xx < 90; xx++) {
        dark += rgb_at(back, xx, yy) == 0;
      }
    }
    ck_assert_int_gt(dark, 20);
    dp_image_free(back);
  }
  // The pinned particle moved off: the old place shows no pinned colour.
  double moved[6];
  memcpy(moved, x, sizeof moved);
  moved[3] += 0.3;
  ck_assert_int_eq(
      dp_render_frame(m, NULL, moved, NULL, NULL, 0.5, DP_VIEW_XZ, lo, hi, img, &err), DP_OK);
  viewMap v = view_map(DP_VIEW_XZ, lo, hi, W, H);
  ck_assert_uint_ne(rgb_at(img, map_col(&v, x + 3), map_row(&v, x + 3)), C_PINNED);
  ck_assert_uint_eq(rgb_at(img, map_col(&v, moved + 3), map_row(&v, moved + 3)), C_PINNED);
  // Non-finite positions are skipped, not drawn.
  moved[0] = NAN;
  ck_assert_int_eq(
      dp_render_frame(m, NULL, moved, NULL, NULL, 0.5, DP_VIEW_XZ, lo, hi, img, &err), DP_OK);
  ck_assert_uint_ne(rgb_at(img, map_col(&v, x), map_row(&v, x)), C_PARTICLE);

  // Errors.
  dp_error_clear(&err);
  ck_assert_int_eq(dp_render_frame(m, NULL, x, NULL, NULL, 0, (dpView)7, lo, hi, img, &err),
                   DP_ERR_INVALID);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_render_frame(m, NULL, NULL, NULL, NULL, 0, DP_VIEW_XZ, lo, hi, img, &err),
                   DP_ERR_INVALID);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_render_frame(m, NULL, x, NULL, NULL, 0, DP_VIEW_XZ, lo, hi, NULL, &err),
                   DP_ERR_INVALID);
  double badlo[3] = {lo[0], NAN, lo[2]};
  dp_error_clear(&err);
  ck_assert_int_eq(dp_render_frame(m, NULL, x, NULL, NULL, 0, DP_VIEW_XZ, badlo, hi, img, &err),
                   DP_ERR_INVALID);
  dp_image_free(img);
  dp_model_free(m);
  tmpdir_remove(&d);
}
END_TEST

// The shared test model renders in every view without error, with the particles in view.
START_TEST(test_render_mixed_model) {
  dpModel *m = tu_mixed_model(DP_SEMI_IMPLICIT_EULER, 1, 4);
  const double *x = m->theta0 + m->off.x0;
  double lo[3], hi[3];
  dp_render_bounds(m, NULL, x, NULL, NULL, 1, lo, hi);
  dpError err = {0};
  dpImage *img = NULL;
  ck_assert_int_eq(dp_image_new(320, 240, &img, &err), DP_OK);
  for (int view = 0; view < 3; view++) {
    ck_assert_int_eq(
        dp_render_frame(m, NULL, x, NULL, NULL, 0, (dpView)view, lo, hi, img, &err), DP_OK);
    viewMap v = view_map((dpView)view, lo, hi, 320, 240);
    for (int i = 0; i < m->np; i++) {
      unsigned c = rgb_at(img, map_col(&v, x + 3 * i), map_row(&v, x + 3 * i));
      ck_assert_uint_eq(c, m->pinned[i] ? C_PINNED : C_PARTICLE);
    }
  }
  dp_image_free(img);
  dp_model_free(m);
}
END_TEST

// Articulated bodies: crate (free joint, box 0.2 × 0.1 × 0.2 half extents) at (0.3, 0, 0.2);
// pole (revolute about y) 0.8 m to the crate's −x with a capsule (radius 0.05, half-length 0.2)
// centred 0.3 m up its z; ball (fixed) 0.6 m below the pole with a sphere of radius 0.15.
static dpModel *body_scene(void) {
  dpError err = {0};
  dpModel *m = dp_model_new();
  dpBodyDef d = dp_default_body_def();
  d.joint = DP_JOINT_FREE;
  d.q0[0] = 0.3;
  d.q0[2] = 0.2;
  d.q0[3] = 1.0;
  ck_assert_int_eq(dp_model_add_body(m, "crate", &d, &err), 0);
  d = dp_default_body_def();
  d.parent = 0;
  d.axis[1] = 1.0;
  d.axis[2] = 0.0;
  d.joint_pos[0] = -0.8;
  ck_assert_int_eq(dp_model_add_body(m, "pole", &d, &err), 1);
  d = dp_default_body_def();
  d.parent = 1;
  d.joint = DP_JOINT_FIXED;
  d.joint_pos[2] = -0.6;
  ck_assert_int_eq(dp_model_add_body(m, "ball", &d, &err), 2);
  dpShapeDef s = dp_default_shape_def(DP_SHAPE_BOX);
  s.body = 0;
  s.size[0] = 0.2;
  s.size[1] = 0.1;
  s.size[2] = 0.2;
  ck_assert_int_eq(dp_model_add_shape(m, "box", &s, &err), 0);
  s = dp_default_shape_def(DP_SHAPE_CAPSULE);
  s.body = 1;
  s.pos[2] = 0.3;
  s.size[0] = 0.05;
  s.size[1] = 0.2;
  ck_assert_int_eq(dp_model_add_shape(m, "rod", &s, &err), 1);
  s = dp_default_shape_def(DP_SHAPE_SPHERE);
  s.body = 2;
  s.size[0] = 0.15;
  ck_assert_int_eq(dp_model_add_shape(m, "bob", &s, &err), 2);
  ck_assert_msg(dp_model_finalize(m, &err) == DP_OK, "%s", err.message);
  return m;
}

#define C_BODY 0xE8C9A0u
#define C_JOINT 0x202020u

START_TEST(test_render_bodies) {
  dpModel *m = body_scene();
  dpError err = {0};
  double *s = calloc(dp_model_nstate(m), sizeof *s);
  double *scratch = malloc(dp_body_scratch_size(m) * sizeof *scratch);
  dp_initial_state(m, m->theta0, s);
  double bpos[9], bquat[12];
  dp_body_poses(m, m->theta0, s, bpos, bquat, scratch);
  // Bounds: the sphere's left and bottom, the box's right, the capsule's top; in y the sphere.
  double lo[3], hi[3];
  dp_render_bounds(m, NULL, NULL, bpos, bquat, 1, lo, hi);
  const double elo[3] = {-0.65, -0.15, -0.55}, ehi[3] = {0.5, 0.15, 0.75};
  for (int k = 0; k < 3; k++) {
    ck_assert_double_eq_tol(lo[k], elo[k], 1e-12);
    ck_assert_double_eq_tol(hi[k], ehi[k], 1e-12);
  }
  const int W = 400, H = 300;
  dpImage *img = NULL;
  ck_assert_int_eq(dp_image_new(W, H, &img, &err), DP_OK);
  ck_assert_msg(
      dp_render_frame(m, NULL, NULL, bpos, bquat, 0, DP_VIEW_XZ, lo, hi, img, &err) == DP_OK,
      "%s", err.message);
  viewMap v = view_map(DP_VIEW_XZ, lo, hi, W, H);
  const struct {
    double p[3];
    unsigned want;
    int equal;
  } px[] = {
      {{0.42, 0, 0.05}, C_BODY, 1},     // inside the box
      {{0.55, 0, 0.2}, 0xFFFFFFu, 1},   // right of it
      {{0.3, 0, 0.47}, 0xFFFFFFu, 1},   // above it
      {{-0.47, 0, 0.6}, C_BODY, 1},     // inside the capsule
      {{-0.4, 0, 0.6}, 0xFFFFFFu, 1},   // beside it
      {{-0.5, 0, 0.73}, C_BODY, 1},     // in its round cap
      {{-0.42, 0, -0.4}, C_BODY, 1},    // inside the sphere
      {{-0.5, 0, -0.4}, C_JOINT, 1},    // the ball's origin
      {{-0.3, 0, -0.4}, 0xFFFFFFu, 1},  // right of the sphere
  };
  for (size_t k = 0; k < sizeof px / sizeof px[0]; k++) {
    unsigned c = rgb_at(img, map_col(&v, px[k].p), map_row(&v, px[k].p));
    ck_assert_msg(c == px[k].want, "(%g, %g, %g): %06x, expected %06x", px[k].p[0], px[k].p[1],
                  px[k].p[2], c, px[k].want);
  }
  // The bone from the crate's origin to the pole's: dark, halfway between them.
  const double mid[3] = {-0.1, 0, 0.2};
  unsigned c = rgb_at(img, map_col(&v, mid), map_row(&v, mid));
  ck_assert_msg((c >> 16) < 0x80 && ((c >> 8) & 0xFF) < 0x80 && (c & 0xFF) < 0x80, "bone %06x",
                c);

  // The crate turned 45° about y: its square seen as a diamond (the pole moves with it).
  double *q = s + dp_model_q_offset(m);
  q[3] = cos(M_PI / 8);
  q[5] = sin(M_PI / 8);
  dp_body_poses(m, m->theta0, s, bpos, bquat, scratch);
  ck_assert_int_eq(dp_render_frame(m, NULL, NULL, bpos, bquat, 0, DP_VIEW_XZ, lo, hi, img, &err),
                   DP_OK);
  const double tip[3] = {0.3 + 0.26, 0, 0.2}, corner[3] = {0.3 + 0.17, 0, 0.2 - 0.17};
  ck_assert_uint_eq(rgb_at(img, map_col(&v, tip), map_row(&v, tip)), C_BODY);
  ck_assert_uint_eq(rgb_at(img, map_col(&v, corner), map_row(&v, corner)), 0xFFFFFFu);
  // Seen from above (x-y), the same diamond's x extent shows as the rectangle's width.
  viewMap vxy = view_map(DP_VIEW_XY, lo, hi, W, H);
  ck_assert_int_eq(dp_render_frame(m, NULL, NULL, bpos, bquat, 0, DP_VIEW_XY, lo, hi, img, &err),
                   DP_OK);
  const double top_in[3] = {0.3 + 0.26, 0.05, 0}, top_out[3] = {0.3 + 0.26, 0.14, 0};
  ck_assert_uint_eq(rgb_at(img, map_col(&vxy, top_in), map_row(&vxy, top_in)), C_BODY);
  ck_assert_uint_eq(rgb_at(img, map_col(&vxy, top_out), map_row(&vxy, top_out)), 0xFFFFFFu);

  // Non-finite poses are skipped; missing poses are an error.
  bpos[0] = NAN;
  ck_assert_int_eq(dp_render_frame(m, NULL, NULL, bpos, bquat, 0, DP_VIEW_XZ, lo, hi, img, &err),
                   DP_OK);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_render_frame(m, NULL, NULL, NULL, bquat, 0, DP_VIEW_XZ, lo, hi, img, &err),
                   DP_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(err.message, "no body poses"));
  dp_image_free(img);
  free(s);
  free(scratch);
  dp_model_free(m);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// Soft bodies and shells (render_scene.h)
// ---------------------------------------------------------------------------------------------

#define C_VIRIDIS0 0x440154u   // strain 0
#define C_VIRIDIS1 0xFDE725u   // strain ≥ DP_RENDER_STRAIN_MAX
#define C_SOFT_EDGE 0x2F4F6Fu

// A 2 × 1 × 1 m box of two cells along x (dp_mesh_box_tets, 12 tetrahedra; vertices at
// x ∈ {−1, 0, 1}, y, z ∈ {−0.5, 0.5}) as the soft body "cube". *X receives its rest positions
// (12 × 3, malloc'ed).
static dpModel *cube_scene(double **X) {
  dpError err = {0};
  dpMesh mesh;
  const double size[3] = {2, 1, 1};
  const int res[3] = {2, 1, 1};
  ck_assert_msg(dp_mesh_box_tets(size, res, &mesh, &err) == DP_OK, "%s", err.message);
  dpModel *m = dp_model_new();
  dpSoftDef d = dp_default_soft_def(0);
  d.nv = mesh.nv;
  d.rest = mesh.X;
  d.nelem = mesh.ntet;
  d.elem = mesh.tet;
  ck_assert_msg(dp_model_add_soft(m, "cube", &d, &err) == 0, "%s", err.message);
  ck_assert_msg(dp_model_finalize(m, &err) == DP_OK, "%s", err.message);
  *X = malloc(3 * (size_t)mesh.nv * sizeof **X);
  memcpy(*X, mesh.X, 3 * (size_t)mesh.nv * sizeof **X);
  dp_mesh_free(&mesh);
  return m;
}

// Pixels of colour col in the rectangle [x0, x1] × [y0, y1].
static int count_color(const dpImage *img, int x0, int y0, int x1, int y1, unsigned col) {
  int n = 0;
  for (int y = y0; y <= y1; y++) {
    for (int x = x0; x <= x1; x++) {
      n += rgb_at(img, x, y) == col;
    }
  }
  return n;
}

START_TEST(test_render_soft_strain) {
  double *X = NULL;
  dpModel *m = cube_scene(&X);
  ck_assert_int_eq(m->nvert, 12);
  ck_assert_int_eq(m->ntet, 12);
  dpError err = {0};
  size_t n3 = 3 * (size_t)m->nvert;
  double *sx = malloc(n3 * sizeof *sx);
  // Strain: 0 at rest and under a rotation; a stretch by 1.1 along x gives E = diag(0.105, 0, 0).
  memcpy(sx, X, n3 * sizeof *sx);
  for (int t = 0; t < m->ntet; t++) {
    ck_assert_double_eq_tol(dp_render_tet_strain(X, sx, m->tet + 4 * t), 0.0, 1e-15);
  }
  double ca = cos(0.5), sa = sin(0.5);
  for (int i = 0; i < m->nvert; i++) {
    const double *p = X + 3 * i;
    sx[3 * i] = ca * p[0] + sa * p[2] + 3.0;
    sx[3 * i + 2] = -sa * p[0] + ca * p[2] - 1.0;
  }
  for (int t = 0; t < m->ntet; t++) {
    ck_assert_double_eq_tol(dp_render_tet_strain(X, sx, m->tet + 4 * t), 0.0, 1e-14);
  }
  for (int i = 0; i < m->nvert; i++) {
    sx[3 * i] = 1.1 * X[3 * i];
    sx[3 * i + 1] = X[3 * i + 1];
    sx[3 * i + 2] = X[3 * i + 2];
  }
  for (int t = 0; t < m->ntet; t++) {
    ck_assert_double_eq_tol(dp_render_tet_strain(X, sx, m->tet + 4 * t), 0.105, 1e-14);
  }

  // The right cell stretched to x = 1.4 (strain 0.48: the top colour), the left one at rest.
  memcpy(sx, X, n3 * sizeof *sx);
  for (int i = 0; i < m->nvert; i++) {
    if (X[3 * i] > 0.5) {
      sx[3 * i] = 1.4;
    }
  }
  double lo[3], hi[3];
  dp_render_bounds_soft(m, NULL, NULL, NULL, NULL, sx, 1, lo, hi);
  const double elo[3] = {-1, -0.5, -0.5}, ehi[3] = {1.4, 0.5, 0.5};
  for (int k = 0; k < 3; k++) {
    ck_assert_double_eq(lo[k], elo[k]);
    ck_assert_double_eq(hi[k], ehi[k]);
  }
  const int W = 400, H = 300;
  dpImage *img = NULL;
  ck_assert_int_eq(dp_image_new(W, H, &img, &err), DP_OK);
  ck_assert_msg(dp_render_frame_soft(m, NULL, NULL, NULL, NULL, sx, DP_MESH_STRAIN, 0,
                                     DP_VIEW_XZ, lo, hi, img, &err) == DP_OK,
                "%s", err.message);
  viewMap v = view_map(DP_VIEW_XZ, lo, hi, W, H);
  // Points of the front face (y = −0.5) away from the cells' diagonals and edges.
  const struct {
    double p[3];
    unsigned want;
  } px[] = {
      {{-0.5, 0, 0.3}, C_VIRIDIS0},  {{-0.5, 0, -0.3}, C_VIRIDIS0},
      {{0.7, 0, 0.3}, C_VIRIDIS1},   {{0.7, 0, -0.3}, C_VIRIDIS1},
      {{1.55, 0, 0}, 0xFFFFFFu},     {{-0.5, 0, 0.62}, 0xFFFFFFu},
  };
  for (size_t k = 0; k < sizeof px / sizeof px[0]; k++) {
    unsigned c = rgb_at(img, map_col(&v, px[k].p), map_row(&v, px[k].p));
    ck_assert_msg(c == px[k].want, "(%g, %g): %06x, expected %06x", px[k].p[0], px[k].p[2], c,
                  px[k].want);
  }
  // The outline along the cube's left edge x = −1 is dark.
  const double left[3] = {-1, 0, 0.2};
  unsigned e = rgb_at(img, map_col(&v, left), map_row(&v, left));
  ck_assert_msg((e >> 16) < 0x90 && ((e >> 8) & 0xFF) < 0x90, "outline %06x", e);
  // The PNG on disk holds the same pixels.
  tmpDir d;
  tmpdir_make(&d, "render");
  char path[256];
  tmpdir_file(&d, "cube.png", path, sizeof path);
  ck_assert_msg(dp_image_write_png(img, path, &err) == DP_OK, "%s", err.message);
  dpImage *back = NULL;
  ck_assert_int_eq(dp_image_read_png(path, &back, &err), DP_OK);
  ck_assert_int_eq(back->width, W);
  ck_assert_int_eq(memcmp(back->rgb, img->rgb, (size_t)W * H * 3), 0);
  dp_image_free(back);
  tmpdir_remove(&d);

  // A uniform stretch of 1.1: strain 0.105 → viridis at 0.525, a quarter of the way from
  // #21918c to #22a884: (33.25, 150.75, 138) → #21978a. The legend then holds the only #fde725.
  for (int i = 0; i < m->nvert; i++) {
    sx[3 * i] = 1.1 * X[3 * i];
  }
  ck_assert_int_eq(dp_render_frame_soft(m, NULL, NULL, NULL, NULL, sx, DP_MESH_STRAIN, 0,
                                        DP_VIEW_XZ, lo, hi, img, &err),
                   DP_OK);
  const double mid[3] = {-0.55, 0, 0.3};
  ck_assert_uint_eq(rgb_at(img, map_col(&v, mid), map_row(&v, mid)), 0x21978Au);
  ck_assert_int_eq(count_color(img, 0, 0, W - 1, H * 3 / 4, C_VIRIDIS1), 0);
  ck_assert_int_gt(count_color(img, W / 2, H - 40, W - 1, H - 1, C_VIRIDIS1), 0);
  ck_assert_int_gt(count_color(img, W / 2, H - 40, W - 1, H - 1, C_VIRIDIS0), 0);

  // Edges only: the face is background inside, its edges dark blue-grey; no legend.
  ck_assert_int_eq(dp_render_frame_soft(m, NULL, NULL, NULL, NULL, sx, DP_MESH_EDGES, 0,
                                        DP_VIEW_XZ, lo, hi, img, &err),
                   DP_OK);
  ck_assert_uint_eq(rgb_at(img, map_col(&v, mid), map_row(&v, mid)), 0xFFFFFFu);
  const double edge[3] = {-1.1, 0, 0.2};
  unsigned ce = rgb_at(img, map_col(&v, edge), map_row(&v, edge));
  ck_assert_msg((ce >> 16) < 0x90 && ((ce >> 8) & 0xFF) < 0x90, "edge %06x", ce);
  ck_assert_int_eq(count_color(img, W / 2, H - 40, W - 1, H - 1, C_VIRIDIS1), 0);
  // Seen from above (x-y), the stretched top face.
  viewMap vxy = view_map(DP_VIEW_XY, lo, hi, W, H);
  ck_assert_int_eq(dp_render_frame_soft(m, NULL, NULL, NULL, NULL, sx, DP_MESH_STRAIN, 0,
                                        DP_VIEW_XY, lo, hi, img, &err),
                   DP_OK);
  const double top[3] = {-0.55, 0.3, 0};
  ck_assert_uint_eq(rgb_at(img, map_col(&vxy, top), map_row(&vxy, top)), 0x21978Au);

  // dp_render_frame leaves soft bodies out; without positions dp_render_frame_soft fails.
  ck_assert_int_eq(dp_render_frame(m, NULL, NULL, NULL, NULL, 0, DP_VIEW_XZ, lo, hi, img, &err),
                   DP_OK);
  ck_assert_uint_eq(rgb_at(img, map_col(&v, mid), map_row(&v, mid)), 0xFFFFFFu);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_render_frame_soft(m, NULL, NULL, NULL, NULL, NULL, DP_MESH_STRAIN, 0,
                                        DP_VIEW_XZ, lo, hi, img, &err),
                   DP_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(err.message, "no vertex positions"));
  dp_error_clear(&err);
  ck_assert_int_eq(dp_render_frame_soft(m, NULL, NULL, NULL, NULL, sx, (dpMeshStyle)5, 0,
                                        DP_VIEW_XZ, lo, hi, img, &err),
                   DP_ERR_INVALID);
  // Allocation failures: every one reported, nothing leaked.
  int ok = 0;
  for (long n = 0; n < 100 && !ok; n++) {
    tu_fail_alloc f = {0, n + 1, 0};
    dp_set_allocator(tu_failing_alloc, &f);
    dpStatus st = dp_render_frame_soft(m, NULL, NULL, NULL, NULL, sx, DP_MESH_STRAIN, 0,
                                       DP_VIEW_XZ, lo, hi, img, &err);
    dp_set_allocator(NULL, NULL);
    ck_assert_msg(f.live == 0, "allocation %ld failing: %ld blocks leaked", n, f.live);
    ck_assert_msg(st == DP_OK || st == DP_ERR_NOMEM, "status %d", (int)st);
    ok = st == DP_OK;
  }
  ck_assert_int_eq(ok, 1);
  dp_image_free(img);
  free(sx);
  free(X);
  dp_model_free(m);
}
END_TEST

// A shell: the unit square at z = 0 as triangles (0 1 2) and (0 2 3), vertex 3 pinned; vertex 1
// pulled to (1.5, 0, 0) strains the first triangle only.
START_TEST(test_render_shell) {
  dpError err = {0};
  static const double rest[] = {0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0};
  static const int tri[] = {0, 1, 2, 0, 2, 3}, pin[] = {3};
  dpModel *m = dp_model_new();
  dpSoftDef d = dp_default_soft_def(1);
  d.nv = 4;
  d.rest = rest;
  d.nelem = 2;
  d.elem = tri;
  d.npin = 1;
  d.pin = pin;
  ck_assert_msg(dp_model_add_soft(m, "flag", &d, &err) == 0, "%s", err.message);
  ck_assert_msg(dp_model_finalize(m, &err) == DP_OK, "%s", err.message);
  double sx[12];
  memcpy(sx, rest, sizeof sx);
  sx[3] = 1.5;
  // F = [[1.5, −0.5], [0, 1]]: FᵀF − I = [[1.25, −0.75], [−0.75, 0.25]], norm √2.75 / 2.
  ck_assert_double_eq_tol(dp_render_tri_strain(rest, sx, tri), sqrt(2.75) / 2, 1e-14);
  ck_assert_double_eq_tol(dp_render_tri_strain(rest, sx, tri + 3), 0.0, 1e-15);
  // In-plane rotation and a lift: no strain.
  double moved[12];
  for (int i = 0; i < 4; i++) {
    moved[3 * i] = 0.6 * rest[3 * i] - 0.8 * rest[3 * i + 1];
    moved[3 * i + 1] = 0.8 * rest[3 * i] + 0.6 * rest[3 * i + 1];
    moved[3 * i + 2] = 2.0;
  }
  ck_assert_double_eq_tol(dp_render_tri_strain(rest, moved, tri), 0.0, 1e-15);
  double lo[3], hi[3];
  dp_render_bounds_soft(m, NULL, NULL, NULL, NULL, sx, 1, lo, hi);
  ck_assert_double_eq(hi[0], 1.5);
  const int W = 400, H = 300;
  dpImage *img = NULL;
  ck_assert_int_eq(dp_image_new(W, H, &img, &err), DP_OK);
  // Seen from above and from below (a shell has two sides): the same colours.
  for (int side = 0; side < 2; side++) {
    if (side == 1) {
      for (int i = 0; i < 4; i++) {
        sx[3 * i + 1] = -sx[3 * i + 1];  // mirrored: the triangles now face down
      }
      dp_render_bounds_soft(m, NULL, NULL, NULL, NULL, sx, 1, lo, hi);
    }
    ck_assert_msg(dp_render_frame_soft(m, NULL, NULL, NULL, NULL, sx, DP_MESH_STRAIN, 0,
                                       DP_VIEW_XY, lo, hi, img, &err) == DP_OK,
                  "%s", err.message);
    viewMap v = view_map(DP_VIEW_XY, lo, hi, W, H);
    double sy = side ? -1 : 1;
    const double strained[3] = {0.9, 0.3 * sy, 0}, relaxed[3] = {0.2, 0.7 * sy, 0};
    const double outside[3] = {1.3, 0.8 * sy, 0}, pinned[3] = {0, sy, 0};
    ck_assert_uint_eq(rgb_at(img, map_col(&v, strained), map_row(&v, strained)), C_VIRIDIS1);
    ck_assert_uint_eq(rgb_at(img, map_col(&v, relaxed), map_row(&v, relaxed)), C_VIRIDIS0);
    ck_assert_uint_eq(rgb_at(img, map_col(&v, outside), map_row(&v, outside)), 0xFFFFFFu);
    ck_assert_uint_eq(rgb_at(img, map_col(&v, pinned), map_row(&v, pinned)), C_PINNED);
  }
  dp_image_free(img);
  dp_model_free(m);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// Raster primitives (lib/render_draw.h)
// ---------------------------------------------------------------------------------------------

START_TEST(test_draw_primitives) {
  dpError err = {0};
  dpImage *img = NULL;
  ck_assert_int_eq(dp_image_new(64, 48, &img, &err), DP_OK);
  dpCanvas c;
  dp_canvas_init(&c, img);
  // A horizontal line from far outside to far outside: every column of row 10, nothing at 13.
  dp_draw_line(&c, -1e300, 10, 1e300, 10, 2.0, 0x00FF00);
  for (int x = 0; x < 64; x++) {
    ck_assert_uint_eq(rgb_at(img, x, 10), 0x00FF00u);
    ck_assert_uint_eq(rgb_at(img, x, 13), 0xFFFFFFu);
  }
  dp_draw_line(&c, NAN, 0, 5, 5, 2.0, 0xFF0000);  // nothing
  // Clip: a disk cut to the left half.
  dp_canvas_clip(&c, 0, 0, 31, 47);
  dp_draw_disk(&c, 32, 30, 6, 0x0000FF);
  ck_assert_uint_eq(rgb_at(img, 31, 30), 0x0000FFu);
  ck_assert_uint_eq(rgb_at(img, 33, 30), 0xFFFFFFu);
  ck_assert_uint_eq(rgb_at(img, 27, 30), 0x0000FFu);
  ck_assert_uint_eq(rgb_at(img, 24, 30), 0xFFFFFFu);
  // Anti-aliasing: a pixel half covered by a disk edge is a blend.
  dp_canvas_init(&c, img);
  dp_draw_disk(&c, 50.0, 40.0, 3.0, 0x000000);
  unsigned e = rgb_at(img, 53, 40);  // centre at distance 3 from the centre: half covered
  ck_assert_uint_gt(e & 0xFF, 100);
  ck_assert_uint_lt(e & 0xFF, 160);
  // Text: width of "ab" at scale 2 is (2·6 − 1)·2; drawn pixels lie inside its box.
  ck_assert_int_eq(dp_font_width("ab", 2), 22);
  ck_assert_int_eq(dp_font_width("", 1), 0);
  ck_assert_int_eq(dp_font_width("\xce\xb8", 1), 5);  // one UTF-8 character
  memset(img->rgb, 0xFF, (size_t)64 * 48 * 3);
  dp_draw_text(&c, 2, 2, "H", 1, -1, -1, 0, 0x000000);
  // 'H': columns 0 and 4 full height, the bar at row 3.
  for (int r = 0; r < 7; r++) {
    ck_assert_uint_eq(rgb_at(img, 2, 2 + r), 0u);
    ck_assert_uint_eq(rgb_at(img, 6, 2 + r), 0u);
  }
  ck_assert_uint_eq(rgb_at(img, 4, 5), 0u);
  ck_assert_uint_eq(rgb_at(img, 4, 4), 0xFFFFFFu);
  // Turned 90°: the bar becomes a column, the stems rows.
  memset(img->rgb, 0xFF, (size_t)64 * 48 * 3);
  dp_draw_text(&c, 20, 20, "H", 1, -1, -1, 1, 0x000000);
  for (int r = 0; r < 7; r++) {
    ck_assert_uint_eq(rgb_at(img, 20 + r, 20), 0u);
    ck_assert_uint_eq(rgb_at(img, 20 + r, 24), 0u);
  }
  ck_assert_uint_eq(rgb_at(img, 23, 22), 0u);
  // A convex polygon in either orientation: the triangle (10, 10), (40, 10), (10, 40).
  for (int orient = 0; orient < 2; orient++) {
    memset(img->rgb, 0xFF, (size_t)64 * 48 * 3);
    const double tri[2][6] = {{10, 10, 40, 10, 10, 40}, {10, 10, 10, 40, 40, 10}};
    dp_draw_polygon_fill(&c, tri[orient], 3, 0x0000FF);
    ck_assert_uint_eq(rgb_at(img, 15, 15), 0x0000FFu);
    ck_assert_uint_eq(rgb_at(img, 30, 30), 0xFFFFFFu);  // beyond the hypotenuse
    ck_assert_uint_eq(rgb_at(img, 5, 20), 0xFFFFFFu);
    unsigned half = rgb_at(img, 25, 25);  // on the hypotenuse x + y = 50: half covered
    ck_assert_uint_gt(half >> 16, 100);
    ck_assert_uint_lt(half >> 16, 160);
  }
  const double flat[6] = {0, 0, 10, 10, 20, 20};  // no area: nothing
  memset(img->rgb, 0xFF, (size_t)64 * 48 * 3);
  dp_draw_polygon_fill(&c, flat, 3, 0x000000);
  ck_assert_uint_eq(rgb_at(img, 10, 10), 0xFFFFFFu);
  dp_image_free(img);
}
END_TEST

Suite *make_render_suite(void) {
  Suite *s = suite_create("render");
  TCase *tc = tcase_create("png");
  tcase_add_test(tc, test_image_sizes);
  tcase_add_test(tc, test_png_round_trip_exact);
  tcase_add_test(tc, test_png_read_conversions);
  tcase_add_test(tc, test_png_read_errors);
  tcase_add_test(tc, test_png_write_missing_dir);
  suite_add_tcase(s, tc);
  tc = tcase_create("plot");
  tcase_add_test(tc, test_plot_linear_pixels);
  tcase_add_test(tc, test_plot_log_mapping);
  tcase_add_test(tc, test_plot_breaks_and_dots);
  tcase_add_test(tc, test_plot_ranges);
  tcase_add_test(tc, test_plot_errors);
  tcase_add_test(tc, test_alloc_failures);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tc = tcase_create("scene");
  tcase_add_test(tc, test_render_bounds);
  tcase_add_test(tc, test_render_frame_pixels);
  tcase_add_test(tc, test_render_mixed_model);
  tcase_add_test(tc, test_render_bodies);
  tcase_add_test(tc, test_render_soft_strain);
  tcase_add_test(tc, test_render_shell);
  tcase_add_test(tc, test_draw_primitives);
  suite_add_tcase(s, tc);
  return s;
}
