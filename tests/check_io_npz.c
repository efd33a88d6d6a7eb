// Tests of lib/io_npz.c: NPZ round trips (whole and streamed arrays, text members, compression
// levels), atomic replacement, corrupt and truncated files, allocation failures, and NumPy
// interoperability in both directions through tests/py/npz_check.py.
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "testutil.h"

#define PYTHON "/usr/bin/python3"

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

static long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(p, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

// Whole file in a malloc'd buffer; *n its size.
static unsigned char *read_bytes(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc((size_t)len + 1);
  ck_assert_ptr_nonnull(p);
  ck_assert_uint_eq(fread(p, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return p;
}

// An NPY member built by hand: preamble v1.0, header dict padded to 64, then raw data.
static size_t make_npy(unsigned char *out, size_t cap, const char *dict, const void *data,
                       size_t n) {
  size_t dlen = strlen(dict);
  size_t total = (10 + dlen + 1 + 63) / 64 * 64;
  ck_assert_uint_le(total + n, cap);
  size_t hlen = total - 10;
  memcpy(out, "\x93NUMPY\x01\x00", 8);
  out[8] = (unsigned char)(hlen & 0xff);
  out[9] = (unsigned char)(hlen >> 8);
  memcpy(out + 10, dict, dlen);
  memset(out + 10 + dlen, ' ', total - 10 - dlen - 1);
  out[total - 1] = '\n';
  if (n > 0) {
    memcpy(out + total, data, n);
  }
  return total + n;
}

// A zip with one member holding bytes as given (stored), written with libzip directly.
static void write_raw_zip(const char *path, const char *member, const void *p, size_t n) {
  int zerr = 0;
  zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
  ck_assert_ptr_nonnull(za);
  zip_source_t *src = zip_source_buffer(za, p, n, 0);
  ck_assert_ptr_nonnull(src);
  zip_int64_t idx = zip_file_add(za, member, src, 0);
  ck_assert_int_ge(idx, 0);
  ck_assert_int_eq(zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0), 0);
  ck_assert_int_eq(zip_close(za), 0);
}

// Read path expecting failure with code; the message must contain want (and want2 if given).
static void expect_read_error(const char *path, dpStatus code, const char *want,
                              const char *want2) {
  dpError err;
  dp_error_clear(&err);
  dpNpz *z = (dpNpz *)&err;  // must be reset to NULL
  dpStatus st = dp_npz_read(path, &z, &err);
  ck_assert_msg(st == code, "read '%s': status %s, expected %s (%s)", path,
                dp_status_string(st), dp_status_string(code), err.message);
  ck_assert_ptr_null(z);
  ck_assert_int_eq(err.code, code);
  ck_assert_msg(strstr(err.message, want) != NULL, "message '%s' lacks '%s'", err.message, want);
  if (want2 != NULL) {
    ck_assert_msg(strstr(err.message, want2) != NULL, "message '%s' lacks '%s'", err.message,
                  want2);
  }
}

static const dpNpzEntry *must_get(const dpNpz *z, const char *name) {
  const dpNpzEntry *e = dp_npz_get(z, name);
  ck_assert_msg(e != NULL, "member '%s' missing", name);
  return e;
}

static int numpy_available(void) {
  if (access(PYTHON, X_OK) != 0) {
    fprintf(stderr, "check_io_npz: skipped numpy test: %s not found\n", PYTHON);
    return 0;
  }
  if (system(PYTHON " -c 'import numpy' 2>/dev/null") != 0) {
    fprintf(stderr, "check_io_npz: skipped numpy test: numpy not importable by %s\n", PYTHON);
    return 0;
  }
  if (access("tests/py/npz_check.py", R_OK) != 0) {
    fprintf(stderr, "check_io_npz: skipped numpy test: tests/py/npz_check.py not found "
                    "(run from the repository root)\n");
    return 0;
  }
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

START_TEST(test_roundtrip_whole) {
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128];
  tmpdir_file(&d, "a.npz", path, sizeof path);
  dpError err;
  dp_error_clear(&err);
  tu_rng rng = {0x5eed1234u};
  double m[2 * 3];
  for (int i = 0; i < 6; i++) {
    m[i] = tu_uniform(&rng, -1e3, 1e3);
  }
  m[5] = -0.0;
  int64_t ints[4] = {-7, 0, (int64_t)1 << 40, -((int64_t)1 << 53)};
  double scalar = 6.02214076e23;
  size_t s23[2] = {2, 3}, s4[1] = {4}, s03[2] = {0, 3}, s0[1] = {0};
  dpNpzWriter *w = NULL;
  ck_assert_int_eq(dp_npz_open(path, -1, &w, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, "particles/x", 2, s23, m, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_i64(w, "ids", 1, s4, ints, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, "loss", 0, NULL, &scalar, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, "grad/springs.*.stiffness", 2, s03, NULL, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, "empty", 1, s0, NULL, &err), DP_OK);
  ck_assert_int_eq(dp_npz_commit(w, &err), DP_OK);
  ck_assert_int_eq(tmpdir_count(&d, NULL, 0), 1);

  dpNpz *z = NULL;
  ck_assert_msg(dp_npz_read(path, &z, &err) == DP_OK, "%s", err.message);
  ck_assert_uint_eq(z->n, 5);
  const dpNpzEntry *e = must_get(z, "particles/x");
  ck_assert_str_eq(e->dtype, "<f8");
  ck_assert_int_eq(e->ndim, 2);
  ck_assert_uint_eq(e->shape[0], 2);
  ck_assert_uint_eq(e->shape[1], 3);
  ck_assert_uint_eq(e->size, 6);
  ck_assert_ptr_null(e->text);
  ck_assert_int_eq(memcmp(e->data, m, sizeof m), 0);  // bit-exact, including -0.0
  e = must_get(z, "ids");
  ck_assert_str_eq(e->dtype, "<i8");
  ck_assert_int_eq(e->ndim, 1);
  ck_assert_uint_eq(e->shape[0], 4);
  for (int i = 0; i < 4; i++) {
    ck_assert_msg(e->data[i] == (double)ints[i], "ids[%d] = %.17g, expected %lld", i,
                  e->data[i], (long long)ints[i]);
  }
  e = must_get(z, "loss");
  ck_assert_int_eq(e->ndim, 0);
  ck_assert_uint_eq(e->size, 1);
  ck_assert_double_eq(e->data[0], scalar);
  e = must_get(z, "grad/springs.*.stiffness");
  ck_assert_int_eq(e->ndim, 2);
  ck_assert_uint_eq(e->shape[0], 0);
  ck_assert_uint_eq(e->shape[1], 3);
  ck_assert_uint_eq(e->size, 0);
  ck_assert_ptr_nonnull(e->data);
  e = must_get(z, "empty");
  ck_assert_int_eq(e->ndim, 1);
  ck_assert_uint_eq(e->size, 0);
  ck_assert_ptr_null(dp_npz_get(z, "nope"));
  ck_assert_ptr_null(dp_npz_get(z, "loss.npy"));
  dp_npz_free(z);
  tmpdir_remove(&d);
}
END_TEST

START_TEST(test_stream_rows) {
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128];
  tmpdir_file(&d, "traj.npz", path, sizeof path);
  dpError err;
  dp_error_clear(&err);
  dpNpzWriter *w = NULL;
  ck_assert_int_eq(dp_npz_open(path, 6, &w, &err), DP_OK);
  size_t sx[3] = {0, 1, 3}, st[1] = {0}, sn[2] = {123, 2};
  dpNpzArray *x = NULL, *t = NULL, *none = NULL;
  ck_assert_int_eq(dp_npz_begin_f64(w, "particles/x", 3, sx, &x, &err), DP_OK);
  ck_assert_int_eq(dp_npz_begin_f64(w, "time", 1, st, &t, &err), DP_OK);
  ck_assert_int_eq(dp_npz_begin_f64(w, "never", 2, sn, &none, &err), DP_OK);
  double g = -9.81;
  ck_assert_int_eq(dp_npz_add_f64(w, "gravity", 0, NULL, &g, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_text(w, "meta.json", "{\"format_version\": 1}", &err), DP_OK);
  // 1000 rows in appends of uneven sizes, interleaved with another stream.
  static double rows[1000 * 3];
  for (int i = 0; i < 1000 * 3; i++) {
    rows[i] = i * 0.5 - 17.0;
  }
  size_t at = 0, step = 1;
  while (at < 1000) {
    size_t n = step < 1000 - at ? step : 1000 - at;
    ck_assert_int_eq(dp_npz_append_f64(x, rows + 3 * at, n, &err), DP_OK);
    for (size_t k = 0; k < n; k++) {
      double tt = (double)(at + k) * 1e-3;
      ck_assert_int_eq(dp_npz_append_f64(t, &tt, 1, &err), DP_OK);
    }
    at += n;
    step = step * 3 + 1;
  }
  ck_assert_int_eq(dp_npz_append_f64(x, NULL, 0, &err), DP_OK);
  ck_assert_int_eq(dp_npz_commit(w, &err), DP_OK);
  ck_assert_int_eq(tmpdir_count(&d, NULL, 0), 1);  // no spool or temporary file left

  dpNpz *z = NULL;
  ck_assert_msg(dp_npz_read(path, &z, &err) == DP_OK, "%s", err.message);
  const dpNpzEntry *e = must_get(z, "particles/x");
  ck_assert_int_eq(e->ndim, 3);
  ck_assert_uint_eq(e->shape[0], 1000);
  ck_assert_uint_eq(e->shape[1], 1);
  ck_assert_uint_eq(e->shape[2], 3);
  ck_assert_int_eq(memcmp(e->data, rows, sizeof rows), 0);
  e = must_get(z, "time");
  ck_assert_int_eq(e->ndim, 1);
  ck_assert_uint_eq(e->shape[0], 1000);
  for (size_t i = 0; i < 1000; i++) {
    ck_assert_double_eq(e->data[i], (double)i * 1e-3);
  }
  e = must_get(z, "never");
  ck_assert_int_eq(e->ndim, 2);
  ck_assert_uint_eq(e->shape[0], 0);
  ck_assert_uint_eq(e->shape[1], 2);
  ck_assert_double_eq(must_get(z, "gravity")->data[0], -9.81);
  e = must_get(z, "meta.json");
  ck_assert_ptr_null(e->data);
  ck_assert_str_eq(e->text, "{\"format_version\": 1}");
  dp_npz_free(z);
  tmpdir_remove(&d);
}
END_TEST

// Method and level of every member through libzip, to prove level 0 stores and 9 deflates.
static void check_methods(const char *path, int method) {
  int zerr = 0;
  zip_t *za = zip_open(path, ZIP_RDONLY, &zerr);
  ck_assert_ptr_nonnull(za);
  for (zip_int64_t i = 0; i < zip_get_num_entries(za, 0); i++) {
    zip_stat_t zs;
    ck_assert_int_eq(zip_stat_index(za, (zip_uint64_t)i, 0, &zs), 0);
    ck_assert_int_eq(zs.comp_method, method);
  }
  zip_discard(za);
}

START_TEST(test_levels) {
  tmpDir d;
  tmpdir_make(&d, "npz");
  char p0[128], p9[128];
  tmpdir_file(&d, "l0.npz", p0, sizeof p0);
  tmpdir_file(&d, "l9.npz", p9, sizeof p9);
  static double v[4096];
  for (int i = 0; i < 4096; i++) {
    v[i] = (double)(i % 17);
  }
  size_t s[2] = {1024, 4};
  const char *paths[2] = {p0, p9};
  int levels[2] = {0, 9};
  dpError err;
  dp_error_clear(&err);
  for (int k = 0; k < 2; k++) {
    dpNpzWriter *w = NULL;
    ck_assert_int_eq(dp_npz_open(paths[k], levels[k], &w, &err), DP_OK);
    ck_assert_int_eq(dp_npz_add_f64(w, "v", 2, s, v, &err), DP_OK);
    ck_assert_int_eq(dp_npz_add_text(w, "meta.json", "{}", &err), DP_OK);
    ck_assert_int_eq(dp_npz_commit(w, &err), DP_OK);
    dpNpz *z = NULL;
    ck_assert_msg(dp_npz_read(paths[k], &z, &err) == DP_OK, "%s", err.message);
    const dpNpzEntry *e = must_get(z, "v");
    ck_assert_uint_eq(e->size, 4096);
    ck_assert_int_eq(memcmp(e->data, v, sizeof v), 0);
    ck_assert_str_eq(must_get(z, "meta.json")->text, "{}");
    dp_npz_free(z);
  }
  check_methods(p0, ZIP_CM_STORE);
  check_methods(p9, ZIP_CM_DEFLATE);
  ck_assert_int_gt(file_size(p0), (long)sizeof v);
  ck_assert_int_lt(file_size(p9), (long)sizeof v / 10);
  tmpdir_remove(&d);
}
END_TEST

START_TEST(test_empty_archive) {
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128];
  tmpdir_file(&d, "none.npz", path, sizeof path);
  dpError err;
  dp_error_clear(&err);
  dpNpzWriter *w = NULL;
  ck_assert_int_eq(dp_npz_open(path, -1, &w, &err), DP_OK);
  ck_assert_int_eq(dp_npz_commit(w, &err), DP_OK);
  ck_assert_int_eq(tmpdir_count(&d, NULL, 0), 1);
  dpNpz *z = NULL;
  ck_assert_msg(dp_npz_read(path, &z, &err) == DP_OK, "%s", err.message);
  ck_assert_uint_eq(z->n, 0);
  ck_assert_ptr_null(dp_npz_get(z, "x"));
  dp_npz_free(z);
  tmpdir_remove(&d);
}
END_TEST

// Hand-made members: Fortran order and every supported dtype converted to float64.
START_TEST(test_read_dtypes) {
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128];
  tmpdir_file(&d, "dt.npz", path, sizeof path);
  unsigned char buf[512];
  dpError err;
  // Fortran order: logical [[0,1,2],[3,4,5]] stored column by column.
  double f[6] = {0, 3, 1, 4, 2, 5};
  size_t n = make_npy(buf, sizeof buf,
                      "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", f, sizeof f);
  write_raw_zip(path, "f.npy", buf, n);
  dp_error_clear(&err);
  dpNpz *z = NULL;
  ck_assert_msg(dp_npz_read(path, &z, &err) == DP_OK, "%s", err.message);
  const dpNpzEntry *e = must_get(z, "f");
  for (int i = 0; i < 6; i++) {
    ck_assert_double_eq(e->data[i], i);
  }
  dp_npz_free(z);

  static const struct {
    const char *descr;
    unsigned char bytes[16];
    size_t nbytes;
    double want[2];
  } cases[] = {
      {"<f4", {0, 0, 0xc0, 0x3f, 0, 0, 0x20, 0xc1}, 8, {1.5, -10.0}},
      {"<i4", {0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0}, 8, {-1.0, 16.0}},
      {"<i2", {0xfe, 0xff, 0x00, 0x01}, 4, {-2.0, 256.0}},
      {"|u1", {0xff, 0x07}, 2, {255.0, 7.0}},
      {"|i1", {0xff, 0x07}, 2, {-1.0, 7.0}},
      {"|b1", {1, 0}, 2, {1.0, 0.0}},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char dict[128];
    snprintf(dict, sizeof dict, "{\"descr\":\"%s\",\"fortran_order\":False,\"shape\":(2,)}",
             cases[k].descr);
    n = make_npy(buf, sizeof buf, dict, cases[k].bytes, cases[k].nbytes);
    write_raw_zip(path, "a.npy", buf, n);
    dp_error_clear(&err);
    z = NULL;
    ck_assert_msg(dp_npz_read(path, &z, &err) == DP_OK, "%s: %s", cases[k].descr, err.message);
    e = must_get(z, "a");
    ck_assert_str_eq(e->dtype, cases[k].descr);
    ck_assert_double_eq(e->data[0], cases[k].want[0]);
    ck_assert_double_eq(e->data[1], cases[k].want[1]);
    dp_npz_free(z);
  }
  tmpdir_remove(&d);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// Atomicity and failures
// ---------------------------------------------------------------------------------------------

START_TEST(test_atomic_replace) {
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128], last[256];
  tmpdir_file(&d, "out.npz", path, sizeof path);
  write_bytes(path, "old content", 11);
  dpError err;
  dp_error_clear(&err);
  size_t s[1] = {3};
  double v[3] = {1, 2, 3};
  size_t sr[2] = {0, 2};
  double row[2] = {4, 5};

  // Abort: the old file is intact and nothing else is left behind.
  dpNpzWriter *w = NULL;
  dpNpzArray *a = NULL;
  ck_assert_int_eq(dp_npz_open(path, -1, &w, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, "v", 1, s, v, &err), DP_OK);
  ck_assert_int_eq(dp_npz_begin_f64(w, "r", 2, sr, &a, &err), DP_OK);
  ck_assert_int_eq(dp_npz_append_f64(a, row, 1, &err), DP_OK);
  ck_assert_int_eq(file_size(path), 11);
  dp_npz_abort(w);
  ck_assert_int_eq(tmpdir_count(&d, last, sizeof last), 1);
  ck_assert_str_eq(last, "out.npz");
  size_t n = 0;
  unsigned char *p = read_bytes(path, &n);
  ck_assert_uint_eq(n, 11);
  ck_assert_int_eq(memcmp(p, "old content", 11), 0);
  free(p);
  dp_npz_abort(NULL);

  // Commit: the old content stays until the rename, then the new archive replaces it.
  ck_assert_int_eq(dp_npz_open(path, -1, &w, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, "v", 1, s, v, &err), DP_OK);
  ck_assert_int_eq(dp_npz_begin_f64(w, "r", 2, sr, &a, &err), DP_OK);
  ck_assert_int_eq(dp_npz_append_f64(a, row, 1, &err), DP_OK);
  p = read_bytes(path, &n);
  ck_assert_uint_eq(n, 11);
  ck_assert_int_eq(memcmp(p, "old content", 11), 0);
  free(p);
  ck_assert_int_eq(dp_npz_commit(w, &err), DP_OK);
  ck_assert_int_eq(tmpdir_count(&d, last, sizeof last), 1);
  ck_assert_str_eq(last, "out.npz");
  dpNpz *z = NULL;
  ck_assert_msg(dp_npz_read(path, &z, &err) == DP_OK, "%s", err.message);
  ck_assert_double_eq(must_get(z, "r")->data[1], 5.0);
  dp_npz_free(z);
  struct stat sb;
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_msg((sb.st_mode & 0600) == 0600, "mode %o", (unsigned)(sb.st_mode & 0777));

  // A new file: nothing exists under its name before commit.
  char fresh[128];
  tmpdir_file(&d, "fresh.npz", fresh, sizeof fresh);
  ck_assert_int_eq(dp_npz_open(fresh, 1, &w, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, "v", 1, s, v, &err), DP_OK);
  ck_assert_int_eq(access(fresh, F_OK), -1);
  dp_npz_abort(w);
  ck_assert_int_eq(access(fresh, F_OK), -1);
  ck_assert_int_eq(tmpdir_count(&d, NULL, 0), 1);
  tmpdir_remove(&d);
}
END_TEST

START_TEST(test_write_errors) {
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128];
  dpError err;
  dp_error_clear(&err);
  dpNpzWriter *w = (dpNpzWriter *)&err;
  tmpdir_file(&d, "no/such/dir/x.npz", path, sizeof path);
  ck_assert_int_eq(dp_npz_open(path, -1, &w, &err), DP_ERR_IO);
  ck_assert_ptr_null(w);
  ck_assert_msg(strstr(err.message, "No such file or directory") != NULL, "%s", err.message);
  ck_assert_msg(strstr(err.message, path) != NULL, "%s", err.message);
  ck_assert_int_eq(tmpdir_count(&d, NULL, 0), 0);

  tmpdir_file(&d, "x.npz", path, sizeof path);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_npz_open(path, 10, &w, &err), DP_ERR_INVALID);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_npz_open(path, -2, &w, &err), DP_ERR_INVALID);

  dp_error_clear(&err);
  ck_assert_int_eq(dp_npz_open(path, -1, &w, &err), DP_OK);
  size_t s[1] = {1};
  double v = 1.0;
  ck_assert_int_eq(dp_npz_add_f64(w, "v", 1, s, &v, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, "v", 1, s, &v, &err), DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "duplicate") != NULL, "%s", err.message);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_npz_add_f64(w, "", 1, s, &v, &err), DP_ERR_INVALID);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_npz_add_f64(w, "w", 9, s, &v, &err), DP_ERR_INVALID);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_npz_add_f64(w, "w", 1, s, NULL, &err), DP_ERR_INVALID);
  dp_error_clear(&err);
  size_t huge[3] = {(size_t)1 << 31, (size_t)1 << 31, (size_t)1 << 31};
  ck_assert_int_eq(dp_npz_add_f64(w, "w", 3, huge, &v, &err), DP_ERR_INVALID);
  dp_error_clear(&err);
  char longname[DP_PATH_MAX + 8];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  ck_assert_int_eq(dp_npz_add_f64(w, longname, 1, s, &v, &err), DP_ERR_INVALID);
  dp_error_clear(&err);
  dpNpzArray *a = NULL;
  ck_assert_int_eq(dp_npz_begin_f64(w, "s", 0, s, &a, &err), DP_ERR_INVALID);
  ck_assert_ptr_null(a);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_npz_append_f64(NULL, &v, 1, &err), DP_ERR_INVALID);
  // Earlier refused calls do not spoil the archive.
  dp_error_clear(&err);
  ck_assert_int_eq(dp_npz_commit(w, &err), DP_OK);
  dpNpz *z = NULL;
  ck_assert_msg(dp_npz_read(path, &z, &err) == DP_OK, "%s", err.message);
  ck_assert_uint_eq(z->n, 1);
  dp_npz_free(z);
  tmpdir_remove(&d);
}
END_TEST

// Failures at commit leave the target as it was and no temporary file behind.
START_TEST(test_commit_failures) {
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128], last[256];
  dpError err;
  dp_error_clear(&err);
  size_t s[1] = {3}, sr[2] = {0, 1024};
  double v[3] = {1, 2, 3};
  dpNpzWriter *w = NULL;
  dpNpzArray *a = NULL;

  // The rename fails: a directory holds the name.
  tmpdir_file(&d, "taken", path, sizeof path);
  ck_assert_int_eq(mkdir(path, 0755), 0);
  ck_assert_int_eq(dp_npz_open(path, -1, &w, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, "v", 1, s, v, &err), DP_OK);
  ck_assert_int_eq(dp_npz_commit(w, &err), DP_ERR_IO);
  ck_assert_msg(strstr(err.message, "cannot rename") != NULL, "%s", err.message);
  ck_assert_int_eq(tmpdir_count(&d, last, sizeof last), 1);
  ck_assert_str_eq(last, "taken");
  ck_assert_int_eq(rmdir(path), 0);

  // Streamed rows cannot be written (file size limit, like a full disk): the append fails and
  // so does the commit.
  tmpdir_file(&d, "big.npz", path, sizeof path);
  static double rows[256 * 1024];
  struct rlimit old, small;
  ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
  small = old;
  small.rlim_cur = 1 << 20;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_npz_open(path, -1, &w, &err), DP_OK);
  ck_assert_int_eq(dp_npz_begin_f64(w, "r", 2, sr, &a, &err), DP_OK);
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
  dpStatus st = dp_npz_append_f64(a, rows, 256, &err);  // 2 MiB
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, old_handler);
  ck_assert_msg(st == DP_ERR_IO, "append: %s (%s)", dp_status_string(st), err.message);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_npz_append_f64(a, rows, 1, &err), DP_ERR_IO);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_npz_commit(w, &err), DP_ERR_IO);
  ck_assert_msg(strstr(err.message, "'r'") != NULL, "%s", err.message);
  ck_assert_int_eq(tmpdir_count(&d, NULL, 0), 0);
  tmpdir_remove(&d);
}
END_TEST

START_TEST(test_read_missing_and_garbage) {
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128];
  tmpdir_file(&d, "missing.npz", path, sizeof path);
  expect_read_error(path, DP_ERR_IO, "cannot open '", "No such file or directory");
  ck_assert_msg(strstr(path, "missing.npz") != NULL, "%s", path);
  expect_read_error(d.path, DP_ERR_IO, d.path, NULL);  // a directory

  tmpdir_file(&d, "garbage.npz", path, sizeof path);
  unsigned char junk[4096];
  tu_rng rng = {42};
  for (size_t i = 0; i < sizeof junk; i++) {
    junk[i] = (unsigned char)tu_uniform(&rng, 0, 256);
  }
  write_bytes(path, junk, sizeof junk);
  expect_read_error(path, DP_ERR_INVALID, "garbage.npz", "not an npz");
  write_bytes(path, "", 0);
  expect_read_error(path, DP_ERR_INVALID, "garbage.npz", "empty");
  tmpdir_remove(&d);
}
END_TEST

START_TEST(test_read_truncated) {
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128], cut[128];
  tmpdir_file(&d, "full.npz", path, sizeof path);
  tmpdir_file(&d, "cut.npz", cut, sizeof cut);
  static double v[3000];
  tu_rng rng = {7};
  for (int i = 0; i < 3000; i++) {
    v[i] = tu_uniform(&rng, -1, 1);
  }
  size_t s[2] = {1000, 3};
  dpError err;
  dp_error_clear(&err);
  dpNpzWriter *w = NULL;
  ck_assert_int_eq(dp_npz_open(path, 0, &w, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, "x", 2, s, v, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_text(w, "meta.json", "{}", &err), DP_OK);
  ck_assert_int_eq(dp_npz_commit(w, &err), DP_OK);
  size_t n = 0;
  unsigned char *p = read_bytes(path, &n);
  // First half; then all but the last bytes of the end-of-central-directory record.
  write_bytes(cut, p, n / 2);
  expect_read_error(cut, DP_ERR_INVALID, "cut.npz", "truncated npz");
  write_bytes(cut, p, n - 5);
  expect_read_error(cut, DP_ERR_INVALID, "cut.npz", "truncated npz");
  // One flipped byte in stored array data: the CRC check names the member.
  p[2000] ^= 0x40;
  write_bytes(cut, p, n);
  expect_read_error(cut, DP_ERR_INVALID, "cut.npz", "member 'x.npy'");
  free(p);
  tmpdir_remove(&d);
}
END_TEST

START_TEST(test_read_bad_npy) {
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128];
  tmpdir_file(&d, "bad.npz", path, sizeof path);
  double data[4] = {1, 2, 3, 4};
  static const struct {
    const char *dict;  // NULL: raw bytes below
    size_t ndata;
    const char *want;
  } cases[] = {
      {"{'descr': '<f8', 'fortran_order': False, }", 32, "bad NPY header"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (4,), 'x': 1}", 32, "bad NPY header"},
      {"{'descr': '<f8', 'fortran_order': Maybe, 'shape': (4,), }", 32, "bad NPY header"},
      {"{'descr': '>f8', 'fortran_order': False, 'shape': (4,), }", 32, "unsupported dtype"},
      {"{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }", 32, "unsupported dtype"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (4), }", 32, "bad NPY header"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (-4,), }", 32, "bad NPY header"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }", 32, "size mismatch"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 32, "size mismatch"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", 32,
       "size mismatch"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", 32,
       "size mismatch"},
      {"{'descr': '<f8', 'fortran_order': False, "
       "'shape': (99999999999999999999999999,), }", 32, "bad NPY header"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,4), }", 32,
       "more than 8 dimensions"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (4,), } junk", 32, "bad NPY header"},
      {"['descr', '<f8']", 32, "bad NPY header"},
  };
  unsigned char buf[512];
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    size_t n = make_npy(buf, sizeof buf, cases[k].dict, data, cases[k].ndata);
    write_raw_zip(path, "sub/x.npy", buf, n);
    expect_read_error(path, DP_ERR_INVALID, "member 'sub/x.npy'", cases[k].want);
  }
  // Bad magic, bad version, a header length past the member's end, a member shorter than the
  // preamble.
  size_t n = make_npy(buf, sizeof buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }",
                      data, 32);
  buf[1] = 'n';
  write_raw_zip(path, "x.npy", buf, n);
  expect_read_error(path, DP_ERR_INVALID, "member 'x.npy'", "magic");
  buf[1] = 'N';
  buf[6] = 9;
  write_raw_zip(path, "x.npy", buf, n);
  expect_read_error(path, DP_ERR_INVALID, "member 'x.npy'", "version");
  buf[6] = 1;
  buf[8] = 0xff;
  buf[9] = 0xff;
  write_raw_zip(path, "x.npy", buf, n);
  expect_read_error(path, DP_ERR_INVALID, "member 'x.npy'", "header length");
  write_raw_zip(path, "x.npy", buf, 7);
  expect_read_error(path, DP_ERR_INVALID, "member 'x.npy'", "bad NPY header");
  tmpdir_remove(&d);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// Allocation failures
// ---------------------------------------------------------------------------------------------

// Write and read back a small archive of every kind of member; returns the first failure.
static dpStatus write_and_read(const char *path, dpError *err) {
  dpStatus st = DP_OK;
  dpNpzWriter *w = NULL;
  dpNpz *z = NULL;
  size_t s[2] = {2, 2}, sr[2] = {0, 2};
  double v[4] = {1, 2, 3, 4};
  int64_t iv[4] = {5, 6, 7, 8};
  dpNpzArray *a = NULL;
  st = dp_npz_open(path, -1, &w, err);
  if (st == DP_OK) {
    st = dp_npz_add_f64(w, "v", 2, s, v, err);
  }
  if (st == DP_OK) {
    st = dp_npz_add_i64(w, "i", 2, s, iv, err);
  }
  if (st == DP_OK) {
    st = dp_npz_add_text(w, "meta.json", "{}", err);
  }
  if (st == DP_OK) {
    st = dp_npz_begin_f64(w, "r", 2, sr, &a, err);
  }
  for (int k = 0; k < 3 && st == DP_OK; k++) {
    st = dp_npz_append_f64(a, v, 2, err);
  }
  if (st == DP_OK) {
    st = dp_npz_commit(w, err);
    w = NULL;
  }
  if (st == DP_OK) {
    st = dp_npz_read(path, &z, err);
  }
  if (st == DP_OK) {
    const dpNpzEntry *e = dp_npz_get(z, "r");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->shape[0], 6);
    ck_assert_double_eq(dp_npz_get(z, "i")->data[3], 8.0);
  }
  dp_npz_abort(w);
  dp_npz_free(z);
  return st;
}

START_TEST(test_alloc_failures) {
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128];
  tmpdir_file(&d, "alloc.npz", path, sizeof path);
  int succeeded = 0;
  for (long n = 1; n <= 500 && !succeeded; n++) {
    tu_fail_alloc f = {0, n, 0};
    dpError err;
    dp_error_clear(&err);
    dp_set_allocator(tu_failing_alloc, &f);
    dpStatus st = write_and_read(path, &err);
    dp_set_allocator(NULL, NULL);
    if (f.count < n) {
      ck_assert_msg(st == DP_OK, "no failure injected but status %s: %s", dp_status_string(st),
                    err.message);
      succeeded = 1;
    } else {
      ck_assert_msg(st == DP_ERR_NOMEM, "allocation %ld failed: status %s (%s)", n,
                    dp_status_string(st), err.message);
      ck_assert_int_eq(err.code, DP_ERR_NOMEM);
    }
    // Whatever failed, no temporary file is left; the target exists only after a commit.
    char last[256] = "";
    int count = tmpdir_count(&d, last, sizeof last);
    ck_assert_msg(count == 0 || (count == 1 && strcmp(last, "alloc.npz") == 0),
                  "allocation %ld: %d entries left, e.g. '%s'", n, count, last);
    unlink(path);
  }
  ck_assert_msg(succeeded, "write_and_read never completed within 500 allocations");
  tmpdir_remove(&d);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// NumPy interoperability
// ---------------------------------------------------------------------------------------------

START_TEST(test_numpy_written) {
  if (!numpy_available()) {
    return;
  }
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128], cmd[512];
  tmpdir_file(&d, "np.npz", path, sizeof path);
  snprintf(cmd, sizeof cmd, PYTHON " tests/py/npz_check.py --write '%s'", path);
  ck_assert_int_eq(system(cmd), 0);
  dpError err;
  dp_error_clear(&err);
  dpNpz *z = NULL;
  ck_assert_msg(dp_npz_read(path, &z, &err) == DP_OK, "%s", err.message);
  ck_assert_uint_eq(z->n, 4);
  const dpNpzEntry *e = must_get(z, "a");
  ck_assert_str_eq(e->dtype, "<f8");
  ck_assert_int_eq(e->ndim, 2);
  ck_assert_uint_eq(e->shape[0], 2);
  ck_assert_uint_eq(e->shape[1], 3);
  const double a[6] = {1.5, -2.0, 3.25, 4.0, 5.5, -6.75};
  for (int i = 0; i < 6; i++) {
    ck_assert_double_eq(e->data[i], a[i]);
  }
  e = must_get(z, "b");
  ck_assert_str_eq(e->dtype, "<f4");
  ck_assert_uint_eq(e->shape[0], 4);
  ck_assert_double_eq(e->data[2], -2.5);
  ck_assert_double_eq(e->data[3], (double)1e30f);
  e = must_get(z, "c");
  ck_assert_str_eq(e->dtype, "<i8");
  ck_assert_double_eq(e->data[0], -7.0);
  ck_assert_double_eq(e->data[2], 1099511627776.0);
  e = must_get(z, "d");
  ck_assert_str_eq(e->dtype, "|b1");
  ck_assert_double_eq(e->data[0], 1.0);
  ck_assert_double_eq(e->data[1], 0.0);
  dp_npz_free(z);
  tmpdir_remove(&d);
}
END_TEST

START_TEST(test_numpy_reads_ours) {
  if (!numpy_available()) {
    return;
  }
  tmpDir d;
  tmpdir_make(&d, "npz");
  char path[128], cmd[512];
  tmpdir_file(&d, "ours.npz", path, sizeof path);
  dpError err;
  dp_error_clear(&err);
  dpNpzWriter *w = NULL;
  dpNpzArray *x = NULL;
  size_t sx[3] = {0, 1, 3}, sg[1] = {2};
  double g[2] = {0.25, -0.5}, loss = 1.25;
  ck_assert_int_eq(dp_npz_open(path, 9, &w, &err), DP_OK);
  ck_assert_int_eq(dp_npz_begin_f64(w, "particles/x", 3, sx, &x, &err), DP_OK);
  for (int t = 0; t < 101; t++) {
    double r[3] = {t, 0.5 * t, -t};
    ck_assert_int_eq(dp_npz_append_f64(x, r, 1, &err), DP_OK);
  }
  ck_assert_int_eq(dp_npz_add_f64(w, "loss", 0, NULL, &loss, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, "grad/springs.*.stiffness", 1, sg, g, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_text(w, "meta.json",
                                   "{\"format_version\": 1, \"tool_version\": \"" DP_VERSION
                                   "\"}",
                                   &err),
                   DP_OK);
  ck_assert_int_eq(dp_npz_commit(w, &err), DP_OK);
  snprintf(cmd, sizeof cmd,
           PYTHON " tests/py/npz_check.py '%s' particles/x=101,1,3 loss= "
                  "'grad/springs.*.stiffness=2' >/dev/null",
           path);
  ck_assert_int_eq(system(cmd), 0);
  // And the checker does fail on a wrong shape.
  snprintf(cmd, sizeof cmd, PYTHON " tests/py/npz_check.py '%s' loss=1 2>/dev/null", path);
  ck_assert_int_ne(system(cmd), 0);
  tmpdir_remove(&d);
}
END_TEST

Suite *make_io_npz_suite(void) {
  Suite *s = suite_create("io_npz");
  TCase *tc = tcase_create("roundtrip");
  tcase_add_test(tc, test_roundtrip_whole);
  tcase_add_test(tc, test_stream_rows);
  tcase_add_test(tc, test_levels);
  tcase_add_test(tc, test_empty_archive);
  tcase_add_test(tc, test_read_dtypes);
  suite_add_tcase(s, tc);
  tc = tcase_create("failures");
  tcase_add_test(tc, test_atomic_replace);
  tcase_add_test(tc, test_write_errors);
  tcase_add_test(tc, test_commit_failures);
  tcase_add_test(tc, test_read_missing_and_garbage);
  tcase_add_test(tc, test_read_truncated);
  tcase_add_test(tc, test_read_bad_npy);
  tcase_add_test(tc, test_alloc_failures);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tc = tcase_create("numpy");
  tcase_add_test(tc, test_numpy_written);
  tcase_add_test(tc, test_numpy_reads_ours);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}
