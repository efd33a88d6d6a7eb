// Tests of lib/io_csv.c: exact round trips through %.17g, quoting of column names, RFC 4180
// input (quotes, CRLF, blank lines, BOM), bad files with their line:column messages, missing
// files, atomic writes and allocation failures.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "testutil.h"

static char g_dir[64];

static void dir_make(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/dp-csv-XXXXXX");
  ck_assert_msg(mkdtemp(g_dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void dir_remove(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  ck_assert_int_eq(system(cmd), 0);
}

static void path_of(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", g_dir, name);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
  ck_assert_int_eq(fclose(f), 0);
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  static char buf[65536];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

// Read text as a CSV file; returns the table (the test frees it) or NULL with err filled.
static dpTable *read_csv_text(const char *name, const char *text, dpError *err) {
  char path[128];
  path_of(name, path, sizeof path);
  write_text(path, text);
  dpTable *t = NULL;
  dp_error_clear(err);
  dpStatus st = dp_csv_read(path, &t, err);
  ck_assert_int_eq(st == DP_OK, t != NULL);
  return t;
}

// Expect a DP_ERR_INVALID at line:column whose message contains `want`.
static void expect_bad(const char *text, int line, int column, const char *want) {
  dir_make();
  dpError err;
  dpTable *t = read_csv_text("bad.csv", text, &err);
  ck_assert_msg(t == NULL, "'%s' was accepted", text);
  ck_assert_int_eq(err.code, DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, want) != NULL, "message '%s' lacks '%s'", err.message, want);
  ck_assert_msg(strstr(err.file, "bad.csv") != NULL, "file '%s'", err.file);
  ck_assert_msg(err.line == line && err.column == column, "%s: at %d:%d, want %d:%d",
                err.message, err.line, err.column, line, column);
  dir_remove();
}

START_TEST(test_roundtrip_exact) {
  dir_make();
  tu_rng rng = {12345};
  enum { NR = 200, NC = 4 };
  static double data[NR * NC];
  for (int i = 0; i < NR * NC; i++) {
    double u = tu_uniform(&rng, -1, 1);
    data[i] = u * pow(10.0, tu_uniform(&rng, -300, 300));
  }
  // Values where %.6g or %.15g would lose bits, and the extremes.
  data[0] = 0.1;
  data[1] = 1.0 / 3.0;
  data[2] = 4.9406564584124654e-324;
  data[3] = 1.7976931348623157e308;
  data[4] = -0.0;
  data[5] = NAN;
  data[6] = INFINITY;
  data[7] = -INFINITY;
  const char *names[NC] = {"iteration", "loss", "grad_norm", "particles.ball.mass"};
  char path[128];
  path_of("h.csv", path, sizeof path);
  dpError err;
  dp_error_clear(&err);
  ck_assert_msg(dp_csv_write(path, names, NC, data, NR, &err) == DP_OK, "%s", err.message);
  dpTable *t = NULL;
  ck_assert_msg(dp_csv_read(path, &t, &err) == DP_OK, "%s", err.message);
  ck_assert_uint_eq(t->ncol, NC);
  ck_assert_uint_eq(t->nrow, NR);
  for (int j = 0; j < NC; j++) {
    ck_assert_str_eq(t->name[j], names[j]);
    ck_assert_int_eq(dp_table_column(t, names[j]), j);
  }
  ck_assert_int_eq(dp_table_column(t, "nope"), -1);
  for (int i = 0; i < NR * NC; i++) {
    if (isnan(data[i])) {
      ck_assert_msg(isnan(t->data[i]), "[%d] %g", i, t->data[i]);
    } else {
      ck_assert_msg(memcmp(&t->data[i], &data[i], sizeof(double)) == 0, "[%d] %.17g != %.17g",
                    i, t->data[i], data[i]);
    }
  }
  // The text itself: plain names, no quotes, one line per row.
  const char *text = read_text(path);
  ck_assert_msg(strncmp(text, "iteration,loss,grad_norm,particles.ball.mass\n0.10000000000000001,",
                        65) == 0,
                "%.80s", text);
  dp_table_free(t);
  dir_remove();
}
END_TEST

START_TEST(test_header_only_and_free_null) {
  dir_make();
  dpError err;
  const char *names[2] = {"a", "b"};
  char path[128];
  path_of("empty.csv", path, sizeof path);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_csv_write(path, names, 2, NULL, 0, &err), DP_OK);
  ck_assert_str_eq(read_text(path), "a,b\n");
  dpTable *t = NULL;
  ck_assert_int_eq(dp_csv_read(path, &t, &err), DP_OK);
  ck_assert_uint_eq(t->ncol, 2);
  ck_assert_uint_eq(t->nrow, 0);
  dp_table_free(t);
  dp_table_free(NULL);
  ck_assert_int_eq(dp_table_column(NULL, "a"), -1);
  dir_remove();
}
END_TEST

START_TEST(test_quoting) {
  dir_make();
  const char *names[6] = {"plain", "with,comma", "say \"hi\"", " padded ", "two\nlines", "x.y*z"};
  const double data[6] = {1, 2, 3, 4, 5, 6};
  char path[128];
  path_of("q.csv", path, sizeof path);
  dpError err;
  dp_error_clear(&err);
  ck_assert_msg(dp_csv_write(path, names, 6, data, 1, &err) == DP_OK, "%s", err.message);
  ck_assert_str_eq(read_text(path),
                   "plain,\"with,comma\",\"say \"\"hi\"\"\",\" padded \",\"two\nlines\",x.y*z\n"
                   "1,2,3,4,5,6\n");
  dpTable *t = NULL;
  ck_assert_msg(dp_csv_read(path, &t, &err) == DP_OK, "%s", err.message);
  ck_assert_uint_eq(t->ncol, 6);
  for (int j = 0; j < 6; j++) {
    ck_assert_str_eq(t->name[j], names[j]);
    ck_assert_double_eq(t->data[j], data[j]);
  }
  dp_table_free(t);
  dir_remove();
}
END_TEST

START_TEST(test_read_rfc4180) {
  dir_make();
  dpError err;
  // BOM, CRLF, blank lines, quoted numbers, spaces around fields, nan/inf/empty fields, a last
  // row without a line break.
  dpTable *t = read_csv_text("r.csv",
                             "\xEF\xBB\xBF"
                             "a, \"b\" ,c\r\n"
                             "\r\n"
                             "1, 2 ,\"3.5\"\r\n"
                             "\n"
                             "nan,-inf,\n"
                             "Inf,1e-3,-0",
                             &err);
  ck_assert_msg(t != NULL, "%s", err.message);
  ck_assert_uint_eq(t->ncol, 3);
  ck_assert_uint_eq(t->nrow, 3);
  ck_assert_str_eq(t->name[0], "a");
  ck_assert_str_eq(t->name[1], "b");
  ck_assert_str_eq(t->name[2], "c");
  ck_assert_double_eq(t->data[0], 1.0);
  ck_assert_double_eq(t->data[1], 2.0);
  ck_assert_double_eq(t->data[2], 3.5);
  ck_assert(isnan(t->data[3]));
  ck_assert(isinf(t->data[4]) && t->data[4] < 0);
  ck_assert(isnan(t->data[5]));
  ck_assert(isinf(t->data[6]) && t->data[6] > 0);
  ck_assert_double_eq(t->data[7], 1e-3);
  ck_assert(t->data[8] == 0.0 && signbit(t->data[8]));
  dp_table_free(t);
  dir_remove();
}
END_TEST

START_TEST(test_bad_files) {
  expect_bad("a,b,c\n1,2,3\n4,5\n", 3, 2, "row has 2 fields, the header has 3");
  expect_bad("a,b\n1,2\n3,4,5\n", 3, 3, "row has 3 fields, the header has 2");
  expect_bad("a,b\n1,2\n\n3,abc\n", 4, 2, "column 'b': 'abc' is not a number");
  expect_bad("a,b\n1,2x\n", 2, 2, "'2x' is not a number");
  expect_bad("", 1, 0, "empty file");
  expect_bad("\n\r\n\n", 1, 0, "empty file");
  expect_bad("loss,grad_norm,loss\n1,2,3\n", 1, 3, "duplicate column name 'loss' (also column 1)");
  expect_bad("a,,c\n", 1, 2, "column 2 has an empty name");
  // A quoted line break moves the following rows down a line.
  expect_bad("\"multi\nline\",b\n1,2\n3,oops\n", 4, 2, "'oops' is not a number");
}
END_TEST

START_TEST(test_missing_file) {
  dpError err;
  dp_error_clear(&err);
  dpTable *t = (dpTable *)1;
  ck_assert_int_eq(dp_csv_read("/nonexistent/dir/h.csv", &t, &err), DP_ERR_IO);
  ck_assert_ptr_null(t);
  ck_assert_int_eq(err.code, DP_ERR_IO);
  ck_assert_msg(strstr(err.message, "/nonexistent/dir/h.csv") != NULL, "%s", err.message);
  ck_assert_msg(strstr(err.message, "No such file") != NULL, "%s", err.message);
  // Writing into a missing directory: DP_ERR_IO, nothing created.
  const char *names[1] = {"a"};
  const double x = 1;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_csv_write("/nonexistent/dir/h.csv", names, 1, &x, 1, &err), DP_ERR_IO);
  ck_assert_msg(strstr(err.message, "/nonexistent/dir/h.csv") != NULL, "%s", err.message);
}
END_TEST

START_TEST(test_write_errors) {
  dir_make();
  char path[128];
  path_of("w.csv", path, sizeof path);
  const double x[2] = {1, 2};
  const char *dup[2] = {"a", "a"};
  const char *empty[2] = {"a", ""};
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_csv_write(path, dup, 2, x, 1, &err), DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "duplicate column name 'a'") != NULL, "%s", err.message);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_csv_write(path, empty, 2, x, 1, &err), DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "column 2 has no name") != NULL, "%s", err.message);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_csv_write(path, dup, 0, x, 1, &err), DP_ERR_INVALID);
  ck_assert_int_eq(access(path, F_OK), -1);
  // Atomic replacement: an existing file is replaced whole, no temporary file is left.
  write_text(path, "old\n");
  const char *names[2] = {"a", "b"};
  dp_error_clear(&err);
  ck_assert_int_eq(dp_csv_write(path, names, 2, x, 1, &err), DP_OK);
  ck_assert_str_eq(read_text(path), "a,b\n1,2\n");
  char cmd[256];
  snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 1", g_dir);
  ck_assert_int_eq(system(cmd), 0);
  dir_remove();
}
END_TEST

START_TEST(test_alloc_failures) {
  dir_make();
  char path[128];
  path_of("alloc.csv", path, sizeof path);
  // Enough rows and a long quoted name to make both the table and libcsv's buffer grow.
  enum { NR = 300 };
  static double data[NR * 3];
  for (int i = 0; i < NR * 3; i++) {
    data[i] = i * 0.25;
  }
  char longname[300];
  memset(longname, 'n', sizeof longname - 1);
  longname[0] = ',';
  longname[sizeof longname - 1] = '\0';
  const char *names[3] = {"iteration", "loss", longname};
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_csv_write(path, names, 3, data, NR, &err), DP_OK);
  int succeeded = 0, failures = 0;
  for (long n = 1; n <= 200 && !succeeded; n++) {
    tu_fail_alloc f = {0, n, 0};
    dp_error_clear(&err);
    dpTable *t = NULL;
    dp_set_allocator(tu_failing_alloc, &f);
    dpStatus st = dp_csv_read(path, &t, &err);
    if (st == DP_OK) {
      ck_assert_uint_eq(t->nrow, NR);
      ck_assert_str_eq(t->name[2], longname);
      dp_table_free(t);
    }
    dp_set_allocator(NULL, NULL);
    ck_assert_msg(f.live == 0, "allocation %ld: %ld blocks leaked", n, f.live);
    if (f.count < n) {
      ck_assert_msg(st == DP_OK, "no failure injected but %s: %s", dp_status_string(st),
                    err.message);
      succeeded = 1;
    } else if (st != DP_OK) {
      // libcsv retries a failed buffer growth with smaller blocks, so some failures are
      // absorbed (and the table is then complete, checked above).
      ck_assert_msg(st == DP_ERR_NOMEM, "allocation %ld failed: status %s (%s)", n,
                    dp_status_string(st), err.message);
      ck_assert_msg(strstr(err.message, "out of memory") != NULL, "%s", err.message);
      ck_assert_ptr_null(t);
      failures++;
    }
  }
  ck_assert_msg(succeeded, "dp_csv_read never completed within 200 allocations");
  ck_assert_msg(failures >= 4, "only %d allocation failures reported", failures);
  // The writer: failures leave nothing behind and never a partial file.
  char out[128];
  path_of("out.csv", out, sizeof out);
  succeeded = 0;
  for (long n = 1; n <= 50 && !succeeded; n++) {
    tu_fail_alloc f = {0, n, 0};
    dp_error_clear(&err);
    dp_set_allocator(tu_failing_alloc, &f);
    dpStatus st = dp_csv_write(out, names, 3, data, NR, &err);
    dp_set_allocator(NULL, NULL);
    ck_assert_int_eq(f.live, 0);
    if (f.count < n) {
      ck_assert_int_eq(st, DP_OK);
      succeeded = 1;
    } else {
      ck_assert_int_eq(st, DP_ERR_NOMEM);
      ck_assert_int_eq(access(out, F_OK), -1);
    }
  }
  ck_assert(succeeded);
  dir_remove();
}
END_TEST

Suite *make_io_csv_suite(void) {
  Suite *s = suite_create("io_csv");
  TCase *tc = tcase_create("roundtrip");
  tcase_add_test(tc, test_roundtrip_exact);
  tcase_add_test(tc, test_header_only_and_free_null);
  tcase_add_test(tc, test_quoting);
  tcase_add_test(tc, test_read_rfc4180);
  suite_add_tcase(s, tc);
  tc = tcase_create("failures");
  tcase_add_test(tc, test_bad_files);
  tcase_add_test(tc, test_missing_file);
  tcase_add_test(tc, test_write_errors);
  tcase_add_test(tc, test_alloc_failures);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}
