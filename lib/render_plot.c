// Line plots as PNG-ready images: axis ranges rounded out to "nice" ticks (steps of 1, 2 or 5
// × 10^k, after Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990), decades and
// minor ticks on a log axis, labels, a legend, and each series in its own colour (the
// matplotlib "tab10" cycle), drawn with the primitives of render_draw.c.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp/dp.h"
#include "render_draw.h"

#define MAX_TICKS 32
#define MAX_MINOR 128
#define LABEL_MAX 32

#define COL_BG 0xFFFFFF
#define COL_FRAME 0x262626
#define COL_GRID 0xEBEBEB
#define COL_TEXT 0x000000
#define COL_LEGEND_EDGE 0xA0A0A0

static const dpColor series_colors[] = {0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728,
                                        0x9467BD, 0x8C564B, 0xE377C2, 0x17BECF};
#define NCOLORS ((int)(sizeof series_colors / sizeof series_colors[0]))

dpPlotOptions dp_default_plot_options(void) {
  dpPlotOptions o;
  memset(&o, 0, sizeof o);
  o.width = 800;
  o.height = 500;
  o.xmin = o.xmax = o.ymin = o.ymax = NAN;
  return o;
}

// One axis: its range and ticks, in axis units (log10 of the data on a log axis).
typedef struct plotAxis {
  double lo, hi;
  int n;  // labelled ticks
  double tick[MAX_TICKS];
  char label[MAX_TICKS][LABEL_MAX];
  int nminor;  // short unlabelled ticks
  double minor[MAX_MINOR];
} plotAxis;

// ---------------------------------------------------------------------------------------------
// Tick labels
// ---------------------------------------------------------------------------------------------

// Drop trailing zeros of a decimal fraction ("1.50" -> "1.5", "2.0" -> "2"); buf has no exponent.
static void strip_zeros(char *buf) {
  if (strchr(buf, '.') == NULL) {
    return;
  }
  size_t n = strlen(buf);
  while (n > 0 && buf[n - 1] == '0') {
    buf[--n] = '\0';
  }
  if (n > 0 && buf[n - 1] == '.') {
    buf[--n] = '\0';
  }
}

// v in scientific notation with `digits` decimals, compact: "2.5e-6", "1e6".
static void format_exp(char *buf, size_t cap, double v, int digits) {
  char tmp[LABEL_MAX];
  snprintf(tmp, sizeof tmp, "%.*e", digits, v);
  char *e = strchr(tmp, 'e');
  int ex = e != NULL ? atoi(e + 1) : 0;
  if (e != NULL) {
    *e = '\0';
  }
  strip_zeros(tmp);
  char ep[16];
  snprintf(ep, sizeof ep, "e%d", ex);
  size_t nm = strlen(tmp), ne = strlen(ep);
  if (nm + ne + 1 > cap) {  // cannot happen for LABEL_MAX and <= 17 digits; keep it safe
    nm = cap > ne + 1 ? cap - ne - 1 : 0;
    ne = cap - nm - 1;
  }
  memcpy(buf, tmp, nm);
  memcpy(buf + nm, ep, ne);
  buf[nm + ne] = '\0';
}

// Labels for linear ticks spaced step = m·10^k: fixed point with the decimals the step needs,
// or scientific notation for very large or small values.
static void label_linear(plotAxis *a, int k) {
  double maxabs = 0;
  for (int i = 0; i < a->n; i++) {
    maxabs = fmax(maxabs, fabs(a->tick[i]));
  }
  int sci = maxabs >= 1e6 || k < -4;
  int top = maxabs > 0 ? (int)floor(log10(maxabs)) : 0;
  for (int i = 0; i < a->n; i++) {
    char *buf = a->label[i];
    double v = a->tick[i];
    if (v == 0) {
      snprintf(buf, LABEL_MAX, "0");
    } else if (sci) {
      format_exp(buf, LABEL_MAX, v, top - k > 0 ? top - k : 0);
    } else {
      snprintf(buf, LABEL_MAX, "%.*f", k < 0 ? -k : 0, v);
      strip_zeros(buf);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tick choice
// ---------------------------------------------------------------------------------------------

// Ticks at multiples of step (m·10^k) in [lo, hi].
static void place_ticks(plotAxis *a, double step, int k) {
  double first = ceil(a->lo / step - 1e-9), last = floor(a->hi / step + 1e-9);
  a->n = 0;
  for (double j = first; j <= last && a->n < MAX_TICKS; j++) {
    double v = j * step + 0.0;  // + 0.0 turns -0 into 0
    if (fabs(v) < step * 1e-9) {
      v = 0;
    }
    a->tick[a->n++] = v;
  }
  label_linear(a, k);
}

// A linear axis over the data range [dlo, dhi] (dlo < dhi): choose the step of 1, 2 or 5 × 10^k
// giving 5 to 8 ticks with the least range added, and round the ends that are not fixed out to
// multiples of it.
static void linear_axis(plotAxis *a, double dlo, double dhi, int fix_lo, int fix_hi) {
  double span = dhi - dlo;
  int k0 = (int)floor(log10(span / 6));
  static const double mant[3] = {1, 2, 5};
  double best = INFINITY, best_step = 1, best_lo = dlo, best_hi = dhi;
  int best_k = 0;
  for (int k = k0 - 1; k <= k0 + 1; k++) {
    for (int i = 0; i < 3; i++) {
      double step = mant[i] * pow(10, k);
      double lo = fix_lo ? dlo : floor(dlo / step + 1e-9) * step;
      double hi = fix_hi ? dhi : ceil(dhi / step - 1e-9) * step;
      double n = floor(hi / step + 1e-9) - ceil(lo / step - 1e-9) + 1;
      double waste = (hi - lo - span) / span;
      double score = n >= 5 && n <= 8 ? waste + 0.02 * fabs(n - 6) : 100 + fabs(n - 6);
      if (n <= MAX_TICKS && score < best) {
        best = score;
        best_step = step;
        best_k = k;
        best_lo = lo;
        best_hi = hi;
      }
    }
  }
  a->lo = best_lo;
  a->hi = best_hi;
  place_ticks(a, best_step, best_k);
}

// A log axis over [dlo, dhi] in log10 units: ends not fixed rounded out to decades; ticks at
// decades (every kstep-th when there are many) with minor ticks at 2..9 × 10^k; a range of
// one decade or less gets ticks at 1, 2, 3, 5 × 10^k or, shorter still, linear ticks.
static void log_axis(plotAxis *a, double dlo, double dhi, int fix_lo, int fix_hi) {
  a->lo = fix_lo ? dlo : floor(dlo + 1e-9) + 0.0;  // + 0.0: no -0
  a->hi = fix_hi ? dhi : ceil(dhi - 1e-9) + 0.0;
  if (a->hi <= a->lo) {  // a constant at a decade
    a->lo = fix_lo ? a->lo : a->lo - 1;
    a->hi = fix_hi ? a->hi : a->hi + 1;
  }
  int e0 = (int)ceil(a->lo - 1e-9), e1 = (int)floor(a->hi + 1e-9);
  int ndec = e1 - e0 + 1;
  a->n = 0;
  a->nminor = 0;
  if (ndec >= 3) {
    int kstep = (ndec - 1 + 7) / 8;  // at most 9 labelled decades
    for (int e = e0; e <= e1 && a->n < MAX_TICKS; e++) {
      if (((e % kstep) + kstep) % kstep != 0) {
        continue;
      }
      a->tick[a->n] = e;
      if (e == 0 || e == 1) {
        snprintf(a->label[a->n], LABEL_MAX, "%s", e == 0 ? "1" : "10");
      } else {
        snprintf(a->label[a->n], LABEL_MAX, "1e%d", e);
      }
      a->n++;
    }
    for (int e = e0 - 1; kstep == 1 && e <= e1; e++) {
      for (int mnt = 2; mnt <= 9 && a->nminor < MAX_MINOR; mnt++) {
        double v = e + log10(mnt);
        if (v >= a->lo - 1e-9 && v <= a->hi + 1e-9) {
          a->minor[a->nminor++] = v;
        }
      }
    }
    return;
  }
  // At most one decade: labelled ticks at m × 10^e for m = 1, 2, 3, 5 (evenly spread on the
  // log scale), minor ticks at the other m.
  for (int e = (int)floor(a->lo); e <= (int)floor(a->hi); e++) {
    for (int mnt = 1; mnt <= 9; mnt++) {
      double v = e + log10(mnt);
      if (v < a->lo - 1e-9 || v > a->hi + 1e-9) {
        continue;
      }
      if (mnt != 1 && mnt != 2 && mnt != 3 && mnt != 5) {
        if (a->nminor < MAX_MINOR) {
          a->minor[a->nminor++] = v;
        }
        continue;
      }
      if (a->n < MAX_TICKS) {
        a->tick[a->n] = v;
        char tmp[LABEL_MAX];
        snprintf(tmp, sizeof tmp, "%g", mnt * pow(10, e));
        if (strchr(tmp, 'e') != NULL) {
          format_exp(tmp, sizeof tmp, mnt * pow(10, e), 0);
        }
        memcpy(a->label[a->n], tmp, LABEL_MAX);
        a->n++;
      }
    }
  }
  if (a->n >= 3) {
    return;
  }
  // Very short: linear ticks in data units between the ends.
  double lo = a->lo, hi = a->hi;
  plotAxis lin;
  linear_axis(&lin, pow(10, lo), pow(10, hi), 1, 1);
  a->n = 0;
  a->nminor = 0;
  for (int i = 0; i < lin.n; i++) {
    if (lin.tick[i] > 0) {
      a->tick[a->n] = log10(lin.tick[i]);
      memcpy(a->label[a->n], lin.label[i], LABEL_MAX);
      a->n++;
    }
  }
  a->lo = lo;
  a->hi = hi;
}

// Widen a degenerate range [lo, hi] (hi <= lo): by 10% of the value, or 1 around 0, on the
// sides that are not fixed.
static void widen(double *lo, double *hi, int fix_lo, int fix_hi) {
  double c = fix_lo ? *lo : fix_hi ? *hi : 0.5 * (*lo + *hi);
  double d = fabs(c) > 1e-300 ? 0.1 * fabs(c) : 1.0;
  if (fix_lo) {
    *hi = *lo + d;
  } else if (fix_hi) {
    *lo = *hi - d;
  } else {
    *lo = c - 0.5 * d;
    *hi = c + 0.5 * d;
  }
}

// Fill axis a from the data range [dlo, dhi] (axis units) and the explicit limits vmin, vmax
// (data units; NaN: automatic).
static dpStatus make_axis(plotAxis *a, double dlo, double dhi, double vmin, double vmax, int logs,
                          const char *name, dpError *err) {
  int fix_lo = !isnan(vmin), fix_hi = !isnan(vmax);
  if ((fix_lo && !isfinite(vmin)) || (fix_hi && !isfinite(vmax))) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "plot: %s limits must be finite", name);
  }
  if (logs && ((fix_lo && vmin <= 0) || (fix_hi && vmax <= 0))) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "plot: %s limits must be > 0 on a log axis", name);
  }
  if (fix_lo && fix_hi && !(vmin < vmax)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "plot: %smin (%g) must be below %smax (%g)", name, vmin, name, vmax);
  }
  double lo = fix_lo ? (logs ? log10(vmin) : vmin) : dlo;
  double hi = fix_hi ? (logs ? log10(vmax) : vmax) : dhi;
  double mag = fmax(fabs(lo), fabs(hi));
  if (!(hi - lo > 1e-12 * mag) || !(hi - lo > 1e-300)) {
    if (logs) {  // in decades: a free end moves one decade; log_axis rounds out the rest
      if (fix_lo) {
        hi = lo + 1;
      } else if (fix_hi) {
        lo = hi - 1;
      }
    } else {
      widen(&lo, &hi, fix_lo, fix_hi);
    }
  }
  if (!isfinite(hi - lo)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "plot: %s range is too large to draw",
                        name);
  }
  a->nminor = 0;
  if (logs) {
    log_axis(a, lo, hi, fix_lo, fix_hi);
  } else {
    linear_axis(a, lo, hi, fix_lo, fix_hi);
  }
  return DP_OK;
}

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------

typedef struct plotMap {
  dpPlotFrame f;
  int logy;
} plotMap;

// Pixel coordinates of a data point; 0 when it cannot be drawn (non-finite, y <= 0 on a log
// axis, or too far out to map).
static int map_point(const plotMap *pm, double x, double y, double *u, double *v) {
  if (!isfinite(x) || !isfinite(y) || (pm->logy && !(y > 0))) {
    return 0;
  }
  const dpPlotFrame *f = &pm->f;
  double yy = pm->logy ? log10(y) : y;
  *u = f->x0 + (x - f->xmin) / (f->xmax - f->xmin) * (f->x1 - f->x0);
  *v = f->y1 - (yy - f->ymin) / (f->ymax - f->ymin) * (f->y1 - f->y0);
  return isfinite(*u) && isfinite(*v);
}

static void draw_series(const dpCanvas *c, const plotMap *pm, const dpPlotSeries *s, dpColor col) {
  double pu = 0, pv = 0;
  int prev = 0;  // the previous point is drawable
  for (size_t i = 0; i < s->n; i++) {
    double u = 0, v = 0;
    int ok = map_point(pm, s->x[i], s->y[i], &u, &v);
    if (ok && prev) {
      dp_draw_line(c, pu, pv, u, v, 2.0, col);
    } else if (ok) {
      double nu, nv;
      int next = i + 1 < s->n && map_point(pm, s->x[i + 1], s->y[i + 1], &nu, &nv);
      if (!next) {  // an isolated point: a dot
        dp_draw_disk(c, u, v, 2.5, col);
      }
    }
    prev = ok;
    pu = u;
    pv = v;
  }
}

static void draw_legend(const dpCanvas *area, const dpPlotSeries *series, int nseries, int ts) {
  char name[LABEL_MAX];
  int wmax = 0;
  for (int i = 0; i < nseries; i++) {
    const char *l = series[i].label;
    if (l == NULL || l[0] == '\0') {
      snprintf(name, sizeof name, "series %d", i + 1);
      l = name;
    }
    int w = dp_font_width(l, ts);
    wmax = w > wmax ? w : wmax;
  }
  int pad = 6 * ts, swatch = 22 * ts, row = DP_FONT_LINE * ts + 5 * ts;
  int bw = pad + swatch + pad + wmax + pad, bh = pad + nseries * row - 5 * ts + pad;
  int bx1 = area->cx1 - 8 * ts, by0 = area->cy0 + 8 * ts;
  int bx0 = bx1 - bw + 1, by1 = by0 + bh - 1;
  dp_draw_rect_fill(area, bx0, by0, bx1, by1, COL_BG);
  dp_draw_rect_outline(area, bx0, by0, bx1, by1, COL_LEGEND_EDGE);
  for (int i = 0; i < nseries; i++) {
    const char *l = series[i].label;
    if (l == NULL || l[0] == '\0') {
      snprintf(name, sizeof name, "series %d", i + 1);
      l = name;
    }
    int yc = by0 + pad + i * row + dp_font_height(ts) / 2;
    dpColor col = series_colors[i % NCOLORS];
    dp_draw_line(area, bx0 + pad, yc, bx0 + pad + swatch, yc, 2.0 * ts, col);
    dp_draw_text(area, bx0 + pad + swatch + pad, yc, l, ts, -1, 0, 0, COL_TEXT);
  }
}

dpStatus dp_plot(const dpPlotSeries *series, int nseries, const dpPlotOptions *opt, dpImage **out,
                 dpPlotFrame *frame, dpError *err) {
  *out = NULL;
  dpPlotOptions o = opt != NULL ? *opt : dp_default_plot_options();
  if (series == NULL || nseries < 1) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "plot: no series to draw");
  }
  // Data ranges over the drawable points.
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  size_t npts = 0;
  for (int k = 0; k < nseries; k++) {
    const dpPlotSeries *s = &series[k];
    if (s->n > 0 && (s->x == NULL || s->y == NULL)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "plot: series %d has no data arrays",
                          k + 1);
    }
    for (size_t i = 0; i < s->n; i++) {
      double x = s->x[i], y = s->y[i];
      if (!isfinite(x) || !isfinite(y) || (o.logy && !(y > 0))) {
        continue;
      }
      double yy = o.logy ? log10(y) : y;
      xlo = fmin(xlo, x);
      xhi = fmax(xhi, x);
      ylo = fmin(ylo, yy);
      yhi = fmax(yhi, yy);
      npts++;
    }
  }
  if (npts == 0) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "plot: no finite point to plot%s",
                        o.logy ? " (a log axis skips y <= 0)" : "");
  }
  plotAxis ax, ay;
  dpStatus st = make_axis(&ax, xlo, xhi, o.xmin, o.xmax, 0, "x", err);
  if (st == DP_OK) {
    st = make_axis(&ay, ylo, yhi, o.ymin, o.ymax, o.logy, "y", err);
  }
  if (st != DP_OK) {
    return st;
  }

  // Layout: margins from the text they hold. Text scale 1 up to 1200 × 750 pixels, then 2.
  int W = o.width, H = o.height;
  int ts = W >= 1200 && H >= 750 ? 2 : 1;
  int th = dp_font_height(ts), tick = 5 * ts, gap = 4 * ts;
  int ylw = 0;
  for (int i = 0; i < ay.n; i++) {
    int w = dp_font_width(ay.label[i], ts);
    ylw = w > ylw ? w : ylw;
  }
  int has_title = o.title != NULL && o.title[0] != '\0';
  int has_xl = o.xlabel != NULL && o.xlabel[0] != '\0';
  int has_yl = o.ylabel != NULL && o.ylabel[0] != '\0';
  int left = 10 * ts + (has_yl ? th + 10 * ts : 0) + ylw + gap + tick;
  int right = 16 * ts;
  if (ax.n > 0) {
    int half = dp_font_width(ax.label[ax.n - 1], ts) / 2 + 6 * ts;
    right = half > right ? half : right;
  }
  int top = has_title ? 12 * ts + dp_font_height(2 * ts) + 10 * ts : 14 * ts;
  int bottom = tick + gap + th + (has_xl ? 10 * ts + th : 0) + 12 * ts;
  dpPlotFrame f = {left, top, W - 1 - right, H - 1 - bottom, ax.lo, ax.hi, ay.lo, ay.hi};
  if (W < 16 || H < 16 || f.x1 - f.x0 < 32 || f.y1 - f.y0 < 32) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "plot: %d x %d pixels leave no room for the plot area", W, H);
  }
  dpImage *img = NULL;
  if ((st = dp_image_new(W, H, &img, err)) != DP_OK) {
    return st;
  }
  plotMap pm = {f, o.logy};
  dpCanvas all, area;
  dp_canvas_init(&all, img);
  area = all;
  dp_canvas_clip(&area, f.x0, f.y0, f.x1, f.y1);
  dp_draw_rect_fill(&all, 0, 0, W - 1, H - 1, COL_BG);

  // Grid at the labelled ticks, under the data.
  int col_of[MAX_TICKS], row_of[MAX_TICKS];
  for (int i = 0; i < ax.n; i++) {
    col_of[i] = (int)lround(f.x0 + (ax.tick[i] - f.xmin) / (f.xmax - f.xmin) * (f.x1 - f.x0));
    dp_draw_rect_fill(&area, col_of[i], f.y0, col_of[i], f.y1, COL_GRID);
  }
  for (int i = 0; i < ay.n; i++) {
    row_of[i] = (int)lround(f.y1 - (ay.tick[i] - f.ymin) / (f.ymax - f.ymin) * (f.y1 - f.y0));
    dp_draw_rect_fill(&area, f.x0, row_of[i], f.x1, row_of[i], COL_GRID);
  }
  for (int k = 0; k < nseries; k++) {
    draw_series(&area, &pm, &series[k], series_colors[k % NCOLORS]);
  }
  dp_draw_rect_outline(&all, f.x0, f.y0, f.x1, f.y1, COL_FRAME);

  // Ticks outside the frame, and their labels.
  for (int i = 0; i < ax.n; i++) {
    dp_draw_rect_fill(&all, col_of[i], f.y1 + 1, col_of[i], f.y1 + tick, COL_FRAME);
    dp_draw_text(&all, col_of[i], f.y1 + tick + gap, ax.label[i], ts, 0, -1, 0, COL_TEXT);
  }
  for (int i = 0; i < ay.n; i++) {
    dp_draw_rect_fill(&all, f.x0 - tick, row_of[i], f.x0 - 1, row_of[i], COL_FRAME);
    dp_draw_text(&all, f.x0 - tick - gap, row_of[i], ay.label[i], ts, 1, 0, 0, COL_TEXT);
  }
  for (int i = 0; i < ay.nminor; i++) {
    int r = (int)lround(f.y1 - (ay.minor[i] - f.ymin) / (f.ymax - f.ymin) * (f.y1 - f.y0));
    dp_draw_rect_fill(&all, f.x0 - (tick + 1) / 2, r, f.x0 - 1, r, COL_FRAME);
  }
  int xc = (f.x0 + f.x1) / 2, yc = (f.y0 + f.y1) / 2;
  if (has_xl) {
    dp_draw_text(&all, xc, f.y1 + tick + gap + th + 10 * ts, o.xlabel, ts, 0, -1, 0, COL_TEXT);
  }
  if (has_yl) {
    dp_draw_text(&all, 10 * ts, yc, o.ylabel, ts, -1, 0, 1, COL_TEXT);
  }
  if (has_title) {
    dp_draw_text(&all, xc, 12 * ts, o.title, 2 * ts, 0, -1, 0, COL_TEXT);
  }
  if (nseries > 1 || (series[0].label != NULL && series[0].label[0] != '\0')) {
    dp_canvas_clip(&area, f.x0 + 1, f.y0 + 1, f.x1 - 1, f.y1 - 1);
    draw_legend(&area, series, nseries, ts);
  }
  if (frame != NULL) {
    *frame = f;
  }
  *out = img;
  return DP_OK;
}
