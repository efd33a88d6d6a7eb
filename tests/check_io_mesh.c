// Tests of lib/io_mesh.c: Kuhn-split boxes (counts, volumes, conformity, outward surface),
// checkerboard grids and their hinges, the TetGen, Gmsh 2.2 / 4.1 and OBJ readers on the same
// cube or sheet in several spellings, the fixture meshes under scenes/meshes, bad files with
// their file:line:column messages, and allocation failures on every path.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "io_mesh.h"
#include "testutil.h"

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
  ck_assert_int_eq(fclose(f), 0);
}

// Write text as `name` in d and return its path in out.
static void put(const tmpDir *d, const char *name, const char *text, char *out, size_t cap) {
  tmpdir_file(d, name, out, cap);
  write_text(out, text);
}

static double tet_volume(const dpMesh *m, int e) {
  const int *t = m->tet + 4 * e;
  const double *a = m->X + 3 * t[0], *b = m->X + 3 * t[1], *c = m->X + 3 * t[2],
               *d = m->X + 3 * t[3];
  double u[3], v[3], w[3];
  for (int i = 0; i < 3; i++) {
    u[i] = b[i] - a[i];
    v[i] = c[i] - a[i];
    w[i] = d[i] - a[i];
  }
  return (u[0] * (v[1] * w[2] - v[2] * w[1]) - u[1] * (v[0] * w[2] - v[2] * w[0]) +
          u[2] * (v[0] * w[1] - v[1] * w[0])) /
         6.0;
}

// Normal (b − a) × (c − a) of triangle t (vertex indices) of X; its length is twice the area.
static void tri_normal(const double *X, const int *t, double n[3]) {
  const double *a = X + 3 * t[0], *b = X + 3 * t[1], *c = X + 3 * t[2];
  double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
  double v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
  n[0] = u[1] * v[2] - u[2] * v[1];
  n[1] = u[2] * v[0] - u[0] * v[2];
  n[2] = u[0] * v[1] - u[1] * v[0];
}

static int cmp_int3(const void *p, const void *q) {
  const int *a = p, *b = q;
  for (int i = 0; i < 3; i++) {
    if (a[i] != b[i]) {
      return a[i] < b[i] ? -1 : 1;
    }
  }
  return 0;
}

static void sort3(int *k) {
  for (int i = 0; i < 2; i++) {
    for (int j = 0; j < 2 - i; j++) {
      if (k[j] > k[j + 1]) {
        int t = k[j];
        k[j] = k[j + 1];
        k[j + 1] = t;
      }
    }
  }
}

// Count the faces of a tet mesh by multiplicity: mult[1] boundary faces, mult[2] interior ones;
// any face in three or more tets fails.
static void face_multiplicity(const dpMesh *m, int mult[3]) {
  static const int F[4][3] = {{1, 2, 3}, {0, 3, 2}, {0, 1, 3}, {0, 2, 1}};
  int nf = 4 * m->ntet;
  int *k = malloc(3 * (size_t)nf * sizeof *k);
  ck_assert_ptr_nonnull(k);
  for (int e = 0; e < m->ntet; e++) {
    for (int f = 0; f < 4; f++) {
      for (int i = 0; i < 3; i++) {
        k[3 * (4 * e + f) + i] = m->tet[4 * e + F[f][i]];
      }
      sort3(k + 3 * (4 * e + f));
    }
  }
  qsort(k, nf, 3 * sizeof *k, cmp_int3);
  mult[0] = mult[1] = mult[2] = 0;
  for (int i = 0; i < nf;) {
    int j = i + 1;
    while (j < nf && cmp_int3(k + 3 * i, k + 3 * j) == 0) {
      j++;
    }
    ck_assert_msg(j - i <= 2, "face (%d, %d, %d) in %d tets", k[3 * i], k[3 * i + 1],
                  k[3 * i + 2], j - i);
    mult[j - i]++;
    i = j;
  }
  free(k);
}

// 1 when (a, b, c) is triangle t up to a cyclic rotation (the same orientation).
static int same_cyclic(const int *t, int a, int b, int c) {
  for (int r = 0; r < 3; r++) {
    if (t[r] == a && t[(r + 1) % 3] == b && t[(r + 2) % 3] == c) {
      return 1;
    }
  }
  return 0;
}

static int find_tri(const dpMesh *m, int a, int b, int c) {
  for (int t = 0; t < m->ntri; t++) {
    if (same_cyclic(m->tri + 3 * t, a, b, c)) {
      return t;
    }
  }
  return -1;
}

// The reference unit cube: dp_mesh_box_tets of 1 × 1 × 1 m, one cell. Vertex c is at
// ((c & 1) − 0.5, (c >> 1 & 1) − 0.5, (c >> 2 & 1) − 0.5); the 6 Kuhn tets below.
static const int CUBE_TETS[6][4] = {{0, 1, 3, 7}, {0, 1, 7, 5}, {0, 2, 7, 3},
                                    {0, 2, 6, 7}, {0, 4, 5, 7}, {0, 4, 7, 6}};

static void assert_cube(const dpMesh *m) {
  ck_assert_int_eq(m->nv, 8);
  ck_assert_int_eq(m->ntet, 6);
  ck_assert_int_eq(m->ntri, 0);
  for (int c = 0; c < 8; c++) {
    ck_assert_double_eq(m->X[3 * c + 0], (c & 1) - 0.5);
    ck_assert_double_eq(m->X[3 * c + 1], (c >> 1 & 1) - 0.5);
    ck_assert_double_eq(m->X[3 * c + 2], (c >> 2 & 1) - 0.5);
  }
  for (int e = 0; e < 6; e++) {
    for (int q = 0; q < 4; q++) {
      ck_assert_msg(m->tet[4 * e + q] == CUBE_TETS[e][q], "tet %d vertex %d: %d, want %d", e, q,
                    m->tet[4 * e + q], CUBE_TETS[e][q]);
    }
  }
}

static void assert_lines(const dpMesh *m, const int *want, int n) {
  ck_assert_ptr_nonnull(m->line);
  for (int e = 0; e < n; e++) {
    ck_assert_msg(m->line[e] == want[e], "element %d on line %d, want %d", e, m->line[e],
                  want[e]);
  }
}

static void load_ok(const char *path, dpMesh *m) {
  dpError err;
  dp_error_clear(&err);
  dpStatus st = dp_mesh_load(path, m, &err);
  ck_assert_msg(st == DP_OK, "%s: %s:%d:%d: %s", path, err.file, err.line, err.column,
                err.message);
}

// Expect `st` to be DP_ERR_INVALID in file:line:column with a message containing want.
static void expect_err(dpStatus st, const dpError *err, const char *file, int line, int col,
                       const char *want) {
  ck_assert_msg(st == DP_ERR_INVALID, "status %s, want invalid input (%s)",
                dp_status_string(st), err->message);
  ck_assert_msg(strstr(err->message, want) != NULL, "message '%s' lacks '%s'", err->message,
                want);
  ck_assert_msg(strcmp(err->file, file) == 0, "file '%s', want '%s'", err->file, file);
  ck_assert_msg(err->line == line && err->column == col, "%s: at %d:%d, want %d:%d",
                err->message, err->line, err->column, line, col);
}

// Load path (dp_mesh_load) and expect an error in file (NULL: path) at line:col.
static void expect_bad_load(const char *path, const char *file, int line, int col,
                            const char *want) {
  dpMesh m;
  memset(&m, 0xab, sizeof m);  // the loader zeroes it on every path
  dpError err;
  dp_error_clear(&err);
  dpStatus st = dp_mesh_load(path, &m, &err);
  expect_err(st, &err, file != NULL ? file : path, line, col, want);
  ck_assert_int_eq(m.nv, 0);
  ck_assert_ptr_null(m.X);
  ck_assert_ptr_null(m.tet);
  ck_assert_ptr_null(m.tri);
  ck_assert_ptr_null(m.line);
}

// ---------------------------------------------------------------------------------------------
// Generated meshes
// ---------------------------------------------------------------------------------------------

START_TEST(test_box_tets) {
  const double size[3] = {0.3, 0.5, 0.7};
  const int res[3] = {2, 3, 4};
  dpMesh m;
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_box_tets(size, res, &m, &err), DP_OK);
  ck_assert_int_eq(m.nv, 60);
  ck_assert_int_eq(m.ntet, 144);
  ck_assert_int_eq(m.ntri, 0);
  // The documented lattice numbering.
  for (int k = 0; k <= 4; k++) {
    for (int j = 0; j <= 3; j++) {
      for (int i = 0; i <= 2; i++) {
        const double *x = m.X + 3 * (i + 3 * (j + 4 * k));
        ck_assert_double_eq_tol(x[0], -0.15 + 0.15 * i, 1e-15);
        ck_assert_double_eq_tol(x[1], -0.25 + 0.5 / 3 * j, 1e-15);
        ck_assert_double_eq_tol(x[2], -0.35 + 0.175 * k, 1e-15);
      }
    }
  }
  double cell = 0.15 * (0.5 / 3) * 0.175, total = 0;
  for (int e = 0; e < m.ntet; e++) {
    double v = tet_volume(&m, e);
    ck_assert_msg(fabs(v - cell / 6) < 1e-12 * cell, "tet %d volume %.17g, want %.17g", e, v,
                  cell / 6);
    ck_assert_int_eq(m.line[e], 0);
    total += v;
  }
  ck_assert_double_eq_tol(total, 0.3 * 0.5 * 0.7, 1e-12);
  int mult[3];
  face_multiplicity(&m, mult);
  ck_assert_int_eq(mult[1], 2 * 2 * (2 * 3 + 3 * 4 + 2 * 4));
  ck_assert_int_eq(mult[1] + 2 * mult[2], 4 * m.ntet);
  ck_assert_int_eq(dp_mesh_check(&m, NULL, &err), DP_OK);
  dp_mesh_free(&m);
  ck_assert_int_eq(m.nv, 0);
  ck_assert_ptr_null(m.X);
  dp_mesh_free(&m);  // a zeroed mesh frees again
  dp_mesh_free(NULL);

  // One cell: the reference cube of the file tests.
  const double unit[3] = {1, 1, 1};
  const int one[3] = {1, 1, 1};
  ck_assert_int_eq(dp_mesh_box_tets(unit, one, &m, &err), DP_OK);
  assert_cube(&m);
  dp_mesh_free(&m);

  const double bad_size[3] = {0.3, 0.0, 0.7};
  const int bad_res[3] = {2, 0, 4};
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_box_tets(bad_size, res, &m, &err), DP_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(err.message, "size[1]"));
  ck_assert_ptr_null(m.X);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_box_tets(size, bad_res, &m, &err), DP_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(err.message, "res[1]"));
  const int huge[3] = {2000, 2000, 2000};
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_box_tets(size, huge, &m, &err), DP_ERR_INVALID);
}
END_TEST

START_TEST(test_box_surface) {
  const double size[3] = {0.3, 0.5, 0.7};
  const int res[3] = {2, 3, 4};
  dpMesh m;
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_box_tets(size, res, &m, &err), DP_OK);
  int *s = NULL, ns = 0;
  ck_assert_int_eq(dp_mesh_surface(&m, &s, &ns, &err), DP_OK);
  ck_assert_int_eq(ns, 2 * 2 * (2 * 3 + 3 * 4 + 2 * 4));
  // Divergence theorem: V = Σ a · (b × c) / 6 over outward faces; each face lies on the box
  // boundary with its normal pointing out of the box centred at the origin.
  double vol = 0, area = 0;
  for (int f = 0; f < ns; f++) {
    const int *t = s + 3 * f;
    const double *a = m.X + 3 * t[0];
    double n[3];
    tri_normal(m.X, t, n);
    vol += (a[0] * n[0] + a[1] * n[1] + a[2] * n[2]) / 6;
    area += 0.5 * sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    double cen[3];
    for (int i = 0; i < 3; i++) {
      cen[i] = (m.X[3 * t[0] + i] + m.X[3 * t[1] + i] + m.X[3 * t[2] + i]) / 3;
    }
    ck_assert_msg(cen[0] * n[0] + cen[1] * n[1] + cen[2] * n[2] > 0, "face %d points inward", f);
    int on_side = 0;
    for (int i = 0; i < 3; i++) {
      on_side += fabs(fabs(cen[i]) - size[i] / 2) < 1e-12;
    }
    ck_assert_int_eq(on_side, 1);
    ck_assert_msg(t[0] < t[1] && t[0] < t[2], "face %d does not start at its smallest vertex", f);
    if (f > 0) {
      int k0[3] = {t[-3], t[-2], t[-1]}, k1[3] = {t[0], t[1], t[2]};
      sort3(k0);
      sort3(k1);
      ck_assert_int_lt(cmp_int3(k0, k1), 0);  // sorted by vertex triple
    }
  }
  ck_assert_double_eq_tol(vol, 0.3 * 0.5 * 0.7, 1e-12);
  ck_assert_double_eq_tol(area, 2 * (0.3 * 0.5 + 0.5 * 0.7 + 0.3 * 0.7), 1e-12);
  // Deterministic, and the same whatever the tet order.
  int *s2 = NULL, ns2 = 0;
  for (int e = 0; e < m.ntet / 2; e++) {
    for (int q = 0; q < 4; q++) {
      int tmp = m.tet[4 * e + q];
      m.tet[4 * e + q] = m.tet[4 * (m.ntet - 1 - e) + q];
      m.tet[4 * (m.ntet - 1 - e) + q] = tmp;
    }
  }
  ck_assert_int_eq(dp_mesh_surface(&m, &s2, &ns2, &err), DP_OK);
  ck_assert_int_eq(ns2, ns);
  ck_assert_int_eq(memcmp(s, s2, 3 * (size_t)ns * sizeof *s), 0);
  dp_free(s);
  dp_free(s2);
  dp_mesh_free(&m);

  // A triangle mesh: its triangles.
  ck_assert_int_eq(dp_mesh_grid_tris(1, 1, 2, 2, &m, &err), DP_OK);
  ck_assert_int_eq(dp_mesh_surface(&m, &s, &ns, &err), DP_OK);
  ck_assert_int_eq(ns, 8);
  ck_assert_int_eq(memcmp(s, m.tri, 24 * sizeof *s), 0);
  dp_free(s);
  dp_mesh_free(&m);
}
END_TEST

START_TEST(test_grid_tris) {
  enum { NX = 4, NY = 3 };
  dpMesh m;
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_grid_tris(2.0, 1.5, NX, NY, &m, &err), DP_OK);
  ck_assert_int_eq(m.nv, (NX + 1) * (NY + 1));
  ck_assert_int_eq(m.ntri, 2 * NX * NY);
  ck_assert_int_eq(m.ntet, 0);
  ck_assert_double_eq(m.X[0], -1.0);
  ck_assert_double_eq(m.X[1], -0.75);
  ck_assert_double_eq(m.X[3 * (NX + (NX + 1) * NY) + 0], 1.0);
  ck_assert_double_eq(m.X[3 * (NX + (NX + 1) * NY) + 1], 0.75);
  ck_assert_double_eq_tol(m.X[3 * (2 + (NX + 1) * 1) + 0], 0.0, 1e-15);
  ck_assert_double_eq_tol(m.X[3 * (2 + (NX + 1) * 1) + 1], -0.25, 1e-15);
  // Checkerboard: cell (0, 0) is split along a–c, cell (1, 0) along b–d.
  const int first[12] = {0, 1, 6, 0, 6, 5, 1, 2, 6, 2, 7, 6};
  for (int i = 0; i < 12; i++) {
    ck_assert_int_eq(m.tri[i], first[i]);
  }
  double area = 0;
  for (int t = 0; t < m.ntri; t++) {
    double n[3];
    tri_normal(m.X, m.tri + 3 * t, n);
    ck_assert_double_eq(n[0], 0.0);
    ck_assert_double_eq(n[1], 0.0);
    ck_assert_msg(n[2] > 0, "triangle %d faces -z", t);
    area += 0.5 * n[2];
  }
  ck_assert_double_eq_tol(area, 3.0, 1e-14);
  ck_assert_int_eq(dp_mesh_check(&m, NULL, &err), DP_OK);

  int *h = NULL, nh = 0;
  ck_assert_int_eq(dp_mesh_hinges(&m, NULL, &h, &nh, &err), DP_OK);
  ck_assert_int_eq(nh, 3 * NX * NY - NX - NY);
  for (int i = 0; i < nh; i++) {
    const int *g = h + 4 * i;
    int t0 = find_tri(&m, g[0], g[1], g[2]), t1 = find_tri(&m, g[1], g[0], g[3]);
    ck_assert_msg(t0 >= 0 && t1 >= 0, "hinge %d (%d %d %d %d) is not two triangles", i, g[0],
                  g[1], g[2], g[3]);
    ck_assert_int_lt(t0, t1);  // v0 → v1 in the first triangle's order
    ck_assert_int_ne(g[2], g[3]);
    if (i > 0) {
      const int *p = g - 4;
      int a0 = p[0] < p[1] ? p[0] : p[1], b0 = p[0] < p[1] ? p[1] : p[0];
      int a1 = g[0] < g[1] ? g[0] : g[1], b1 = g[0] < g[1] ? g[1] : g[0];
      ck_assert_msg(a0 < a1 || (a0 == a1 && b0 < b1), "hinge %d out of order", i);
    }
  }
  // The first hinge: edge 0–6, the diagonal of cell (0, 0).
  ck_assert_int_eq(h[0], 6);
  ck_assert_int_eq(h[1], 0);
  ck_assert_int_eq(h[2], 1);
  ck_assert_int_eq(h[3], 5);
  dp_free(h);
  dp_mesh_free(&m);

  // A single triangle has no hinge.
  ck_assert_int_eq(dp_mesh_grid_tris(1, 1, 1, 1, &m, &err), DP_OK);
  m.ntri = 1;
  ck_assert_int_eq(dp_mesh_hinges(&m, NULL, &h, &nh, &err), DP_OK);
  ck_assert_int_eq(nh, 0);
  ck_assert_ptr_null(h);
  dp_mesh_free(&m);

  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_grid_tris(1, 1, 0, 3, &m, &err), DP_ERR_INVALID);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_grid_tris(-1, 1, 2, 3, &m, &err), DP_ERR_INVALID);
  ck_assert_ptr_null(m.X);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

// The unit cube, 0-based, with an attribute, boundary markers, comments and blank lines.
static const char NODE0[] =
    "# unit cube: 8 points, 1 attribute, boundary markers\n"
    "8  3  1  1\n"
    "\n"
    "0  -0.5 -0.5 -0.5   7.5  1\n"
    "1   0.5 -0.5 -0.5   7.5  1   # a trailing comment\n"
    "2  -0.5  0.5 -0.5   7.5  1\n"
    "\t3   0.5  0.5 -0.5   7.5  1\n"
    "4  -0.5 -0.5  0.5   7.5  1\n"
    "5   5e-1 -0.5  0.5   7.5  1\n"
    "6  -0.5  0.5  0.5   7.5  2\n"
    "7   0.5  0.5  0.5  -1    1\n"
    "# end\n";
static const char ELE0[] =
    "# tets\n"
    "6  4  1\n"
    "\n"
    "0   0 1 3 7   -1\n"
    "1   0 1 7 5   -1   # comment\n"
    "# a comment line\n"
    "2   0 2 7 3   -1\n"
    "3   0 2 6 7   -1\n"
    "4   0 4 5 7   -1\n"
    "5   0 4 7 6   -1";  // no final newline
static const int ELE0_LINES[6] = {4, 5, 7, 8, 9, 10};

// The same cube, 1-based, with a short header (defaults) and a CRLF file.
static const char NODE1[] =
    "8 3\r\n"
    "1 -0.5 -0.5 -0.5\r\n"
    "2 0.5 -0.5 -0.5\r\n"
    "3 -0.5 0.5 -0.5\r\n"
    "4 0.5 0.5 -0.5\r\n"
    "5 -0.5 -0.5 0.5\r\n"
    "6 0.5 -0.5 0.5\r\n"
    "7 -0.5 0.5 0.5\r\n"
    "8 0.5 0.5 0.5\r\n";
static const char ELE1[] =
    "6\r\n"
    "1 1 2 4 8\r\n"
    "2 1 2 8 6\r\n"
    "3 1 3 8 4\r\n"
    "4 1 3 7 8\r\n"
    "5 1 5 6 8\r\n"
    "6 1 5 8 7\r\n";
static const int ELE1_LINES[6] = {2, 3, 4, 5, 6, 7};

START_TEST(test_tetgen) {
  tmpDir d;
  tmpdir_make(&d, "mesh");
  char node[128], ele[128];
  dpMesh m;
  put(&d, "c0.node", NODE0, node, sizeof node);
  put(&d, "c0.ele", ELE0, ele, sizeof ele);
  load_ok(node, &m);  // by the .node name
  assert_cube(&m);
  assert_lines(&m, ELE0_LINES, 6);
  dp_mesh_free(&m);
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_load_tetgen(ele, &m, &err), DP_OK);  // by the .ele name
  assert_cube(&m);
  dp_mesh_free(&m);

  put(&d, "c1.node", NODE1, node, sizeof node);
  put(&d, "c1.ele", ELE1, ele, sizeof ele);
  load_ok(ele, &m);
  assert_cube(&m);
  assert_lines(&m, ELE1_LINES, 6);
  dp_mesh_free(&m);
  tmpdir_remove(&d);
}
END_TEST

// The cube in MSH 2.2: node tags 3 7 12 20 21 40 41 99, a geometry node 500 used only by a
// point element, and a line and triangles beside the tets.
static const char MSH22[] =
    "$MeshFormat\n"
    "2.2 0 8\n"
    "$EndMeshFormat\n"
    "$PhysicalNames\n"
    "1\n"
    "3 1 \"cube body\"\n"
    "$EndPhysicalNames\n"
    "$Nodes\n"
    "9\n"
    "3 -0.5 -0.5 -0.5\n"
    "7 0.5 -0.5 -0.5\n"
    "12 -0.5 0.5 -0.5\n"
    "500 0 0 2\n"
    "20 0.5 0.5 -0.5\n"
    "21 -0.5 -0.5 0.5\n"
    "40 0.5 -0.5 0.5\n"
    "41 -0.5 0.5 0.5\n"
    "99 0.5 0.5 0.5\n"
    "$EndNodes\n"
    "$Elements\n"
    "10\n"
    "1 15 2 0 1 500\n"
    "2 1 2 0 1 3 7\n"
    "3 2 2 0 1 3 7 20\n"
    "4 4 2 1 1 3 7 20 99\n"
    "5 4 2 1 1 3 7 99 40\n"
    "6 4 2 1 1 3 12 99 20\n"
    "7 4 2 1 1 3 12 41 99\n"
    "8 4 2 1 1 3 21 40 99\n"
    "9 4 2 1 1 3 21 99 41\n"
    "10 2 2 0 2 21 40 99\n"
    "$EndElements\n";
static const int MSH22_LINES[6] = {25, 26, 27, 28, 29, 30};

// The same cube in MSH 4.1: nodes in three entity blocks (one parametric), $Entities skipped.
static const char MSH41[] =
    "$MeshFormat\n"
    "4.1 0 8\n"
    "$EndMeshFormat\n"
    "$Entities\n"
    "1 0 0 1\n"
    "1 0 0 2 0\n"
    "1 -0.5 -0.5 -0.5 0.5 0.5 0.5 1 1 0\n"
    "$EndEntities\n"
    "$Nodes\n"
    "3 9 3 500\n"
    "0 1 0 1\n"
    "500\n"
    "0 0 2\n"
    "3 1 0 5\n"
    "3\n"
    "7\n"
    "12\n"
    "20\n"
    "21\n"
    "-0.5 -0.5 -0.5\n"
    "0.5 -0.5 -0.5\n"
    "-0.5 0.5 -0.5\n"
    "0.5 0.5 -0.5\n"
    "-0.5 -0.5 0.5\n"
    "2 1 1 3\n"
    "40\n"
    "41\n"
    "99\n"
    "0.5 -0.5 0.5 0.1 0.2\n"
    "-0.5 0.5 0.5 0.3 0.4\n"
    "0.5 0.5 0.5 0.5 0.6\n"
    "$EndNodes\n"
    "$Elements\n"
    "4 9 1 9\n"
    "0 1 15 1\n"
    "1 500\n"
    "1 1 1 1\n"
    "2 3 7\n"
    "2 1 2 1\n"
    "3 3 7 20\n"
    "3 1 4 6\n"
    "4 3 7 20 99\n"
    "5 3 7 99 40\n"
    "6 3 12 99 20\n"
    "7 3 12 41 99\n"
    "8 3 21 40 99\n"
    "9 3 21 99 41\n"
    "$EndElements\n";
static const int MSH41_LINES[6] = {42, 43, 44, 45, 46, 47};

START_TEST(test_gmsh) {
  tmpDir d;
  tmpdir_make(&d, "mesh");
  char p22[128], p41[128], p[128];
  put(&d, "cube22.msh", MSH22, p22, sizeof p22);
  put(&d, "cube41.MSH", MSH41, p41, sizeof p41);
  dpMesh a, b;
  load_ok(p22, &a);
  load_ok(p41, &b);
  assert_cube(&a);
  assert_cube(&b);
  ck_assert_int_eq(memcmp(a.X, b.X, 24 * sizeof(double)), 0);
  ck_assert_int_eq(memcmp(a.tet, b.tet, 24 * sizeof(int)), 0);
  assert_lines(&a, MSH22_LINES, 6);
  assert_lines(&b, MSH41_LINES, 6);
  dp_mesh_free(&a);
  dp_mesh_free(&b);

  // Triangles only: they are the mesh; an unused node is dropped.
  put(&d, "sheet.msh",
      "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n"
      "$Comments\nmade by hand $Nodes\n$EndComments\n"
      "$Nodes\n5\n10 0 0 0\n20 1 0 0\n50 9 9 9\n30 1 1 0\n40 0 1 0\n$EndNodes\n"
      "$Elements\n3\n1 1 2 0 1 10 20\n2 2 2 0 1 10 20 30\n3 2 2 0 1 10 30 40\n$EndElements\n",
      p, sizeof p);
  load_ok(p, &a);
  ck_assert_int_eq(a.nv, 4);
  ck_assert_int_eq(a.ntet, 0);
  ck_assert_int_eq(a.ntri, 2);
  const int tri[6] = {0, 1, 2, 0, 2, 3};
  ck_assert_int_eq(memcmp(a.tri, tri, sizeof tri), 0);
  ck_assert_double_eq(a.X[3 * 2 + 0], 1.0);
  ck_assert_double_eq(a.X[3 * 2 + 1], 1.0);
  const int lines[2] = {18, 19};
  assert_lines(&a, lines, 2);
  dp_mesh_free(&a);
  tmpdir_remove(&d);
}
END_TEST

// A unit square as a quad and a second quad through relative indices, with v/vt/vn forms and
// the statements a loader skips.
static const char OBJ_SHEET[] =
    "# two quads\n"
    "mtllib cloth.mtl\n"
    "o sheet\n"
    "v 0 0 0\n"
    "v 1 0 0\n"
    "v 1 1 0 1.0\n"
    "v 0 1 0\n"
    "v 2 0 0\n"
    "v 2 1 0   # trailing comment\n"
    "vt 0 0\n"
    "vt 1 0\n"
    "vn 0 0 1\n"
    "g left\n"
    "usemtl red\n"
    "s 1\n"
    "f 1/1/1 2/2/1 3/1/1 4/2/1\n"
    "f -5//1 -2/2 -1/1/1 -4\n"
    "l 1 2\n"
    "p 1\n";

START_TEST(test_obj) {
  tmpDir d;
  tmpdir_make(&d, "mesh");
  char p[128];
  put(&d, "sheet.obj", OBJ_SHEET, p, sizeof p);
  dpMesh m;
  load_ok(p, &m);
  ck_assert_int_eq(m.nv, 6);
  ck_assert_int_eq(m.ntri, 4);
  ck_assert_int_eq(m.ntet, 0);
  const int tri[12] = {0, 1, 2, 0, 2, 3, 1, 4, 5, 1, 5, 2};
  for (int i = 0; i < 12; i++) {
    ck_assert_msg(m.tri[i] == tri[i], "tri[%d] = %d, want %d", i, m.tri[i], tri[i]);
  }
  const int lines[4] = {16, 16, 17, 17};
  assert_lines(&m, lines, 4);
  ck_assert_double_eq(m.X[3 * 5 + 0], 2.0);
  ck_assert_double_eq(m.X[3 * 5 + 1], 1.0);
  for (int t = 0; t < m.ntri; t++) {
    double n[3];
    tri_normal(m.X, m.tri + 3 * t, n);
    ck_assert_double_eq_tol(n[2], 1.0, 1e-15);
  }
  int *h = NULL, nh = 0;
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_hinges(&m, p, &h, &nh, &err), DP_OK);
  ck_assert_int_eq(nh, 3);  // the two quad diagonals and the shared edge 1–2
  dp_free(h);
  dp_mesh_free(&m);

  // A UTF-8 byte order mark, a pentagon fan.
  put(&d, "bom.obj", "\xEF\xBB\xBFv 0 0 0\nv 1 0 0\nv 2 1 0\nv 1 2 0\nv -1 1 0\nf 1 2 3 4 5\n", p,
      sizeof p);
  load_ok(p, &m);
  ck_assert_int_eq(m.ntri, 3);
  const int fan[9] = {0, 1, 2, 0, 2, 3, 0, 3, 4};
  ck_assert_int_eq(memcmp(m.tri, fan, sizeof fan), 0);
  dp_mesh_free(&m);
  tmpdir_remove(&d);
}
END_TEST

// The fixtures for scenes: the beam is the lattice dp_mesh_box_tets makes, the flag a 12 × 8
// sheet of quads in the xz plane.
START_TEST(test_fixture_meshes) {
  dpMesh f, g;
  load_ok("scenes/meshes/beam.node", &f);
  const double size[3] = {0.4, 0.05, 0.05};
  const int res[3] = {16, 2, 2};
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_box_tets(size, res, &g, &err), DP_OK);
  ck_assert_int_eq(f.nv, 153);
  ck_assert_int_eq(f.ntet, 384);
  ck_assert_int_eq(g.nv, f.nv);
  ck_assert_int_eq(g.ntet, f.ntet);
  for (int i = 0; i < 3 * f.nv; i++) {
    ck_assert_msg(f.X[i] == g.X[i], "X[%d] = %.17g, generated %.17g", i, f.X[i], g.X[i]);
  }
  ck_assert_int_eq(memcmp(f.tet, g.tet, 4 * (size_t)f.ntet * sizeof(int)), 0);
  ck_assert_int_eq(f.line[0], 7);  // after the comment block and the header
  dp_mesh_free(&f);
  dp_mesh_free(&g);

  load_ok("scenes/meshes/flag.obj", &f);
  ck_assert_int_eq(f.nv, 13 * 9);
  ck_assert_int_eq(f.ntri, 2 * 12 * 8);
  double area = 0;
  for (int t = 0; t < f.ntri; t++) {
    double n[3];
    tri_normal(f.X, f.tri + 3 * t, n);
    ck_assert_msg(n[1] < 0 && n[0] == 0 && n[2] == 0, "triangle %d normal (%g %g %g)", t, n[0],
                  n[1], n[2]);
    area -= 0.5 * n[1];
  }
  ck_assert_double_eq_tol(area, 0.6, 1e-12);
  int *h = NULL, nh = 0;
  ck_assert_int_eq(dp_mesh_hinges(&f, "scenes/meshes/flag.obj", &h, &nh, &err), DP_OK);
  ck_assert_int_eq(nh, 3 * 12 * 8 - 12 - 8);
  dp_free(h);
  dp_mesh_free(&f);
}
END_TEST

// ---------------------------------------------------------------------------------------------
// Bad files
// ---------------------------------------------------------------------------------------------

START_TEST(test_bad_tetgen) {
  tmpDir d;
  tmpdir_make(&d, "mesh");
  char node[128], ele[128];
  put(&d, "c.ele", ELE1, ele, sizeof ele);

  // Truncated: 6 of 8 points, the last on line 8.
  put(&d, "c.node",
      "8 3 0 0\n1 -0.5 -0.5 -0.5\n2 0.5 -0.5 -0.5\n3 -0.5 0.5 -0.5\n# c\n"
      "4 0.5 0.5 -0.5\n5 -0.5 -0.5 0.5\n6 0.5 -0.5 0.5\n\n",
      node, sizeof node);
  expect_bad_load(node, NULL, 8, 0, "the file ends after 6 of the 8 points declared on line 1");
  // A missing coordinate, a bad number, numbering.
  put(&d, "c.node", "8 3 0 1\n1 -0.5 -0.5 -0.5 0\n2 0.5 -0.5 0\n", node, sizeof node);
  expect_bad_load(node, NULL, 3, 0,
                  "expected 5 values (point number, x, y, z, boundary marker), found 4");
  put(&d, "c.node", "8 3 0 0\n1 -0.5 -0.5 -0.5\n2 0.5 abc -0.5\n", node, sizeof node);
  expect_bad_load(node, NULL, 3, 7, "expected a finite number for y, found 'abc'");
  put(&d, "c.node", "8 3 0 0\n1 -0.5 -0.5 -0.5\n3 0.5 -0.5 -0.5\n", node, sizeof node);
  expect_bad_load(node, NULL, 3, 1, "expected point number 2, found 3");
  put(&d, "c.node", "8 2 0 0\n", node, sizeof node);
  expect_bad_load(node, NULL, 1, 3, "the dimension must be 3, found 2");

  // Index out of range, 10-node tets, inverted, degenerate, unused points.
  put(&d, "c.node", NODE1, node, sizeof node);
  put(&d, "c.ele", "6 4 0\n1 1 2 4 8\n2 1 2 8 6\n3 1 3 8 4\n4 1 3 7 8\n5 1 5 6 8\n6 1 5 8 9\n",
      ele, sizeof ele);
  expect_bad_load(node, ele, 7, 9, "vertex index 9 out of range 1..8");
  put(&d, "c.ele", "6 4 0\n1 1 2 4\n", ele, sizeof ele);
  expect_bad_load(ele, NULL, 2, 0, "expected 5 values (tetrahedron number and 4 vertex indices)");
  put(&d, "c.ele", "# quadratic\n6  10  0\n", ele, sizeof ele);
  expect_bad_load(node, ele, 2, 4, "10-node (quadratic) tetrahedra are not supported");
  put(&d, "c.ele", "6 4 0\n1 1 2 4 8\n2 1 2 8 6\n3 1 3 8 4\n\n4 1 3 8 7\n5 1 5 6 8\n6 1 5 8 7\n",
      ele, sizeof ele);
  expect_bad_load(node, ele, 6, 0, "tetrahedron 3 is inverted (signed volume -0.167 m^3)");
  put(&d, "c.ele",
      "7 4 0\n1 1 2 4 8\n2 1 2 8 6\n3 1 3 8 4\n4 1 3 7 8\n5 1 5 6 8\n6 1 5 8 7\n7 1 2 3 4\n",
      ele, sizeof ele);
  expect_bad_load(ele, NULL, 8, 0, "tetrahedron 6 is degenerate (signed volume 0 m^3");
  put(&d, "c.ele", "6 4 0\n1 1 2 4 8\n2 1 2 8 6\n3 1 3 8 4\n4 1 3 7 8\n5 1 5 6 8\n6 1 5 8 5\n",
      ele, sizeof ele);
  expect_bad_load(ele, NULL, 7, 9, "vertex 5 appears twice in tetrahedron 6");
  put(&d, "c.node", "9 3 0 0\n1 -0.5 -0.5 -0.5\n2 0.5 -0.5 -0.5\n3 -0.5 0.5 -0.5\n"
      "4 0.5 0.5 -0.5\n5 -0.5 -0.5 0.5\n6 0.5 -0.5 0.5\n7 -0.5 0.5 0.5\n8 0.5 0.5 0.5\n9 3 3 3\n",
      node, sizeof node);
  put(&d, "c.ele", ELE1, ele, sizeof ele);
  expect_bad_load(ele, node, 10, 0, "point 9 is used by no tetrahedron (it would have no mass)");

  // Unreadable: the sibling .ele is missing.
  unlink(ele);
  dpMesh m;
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_load(node, &m, &err), DP_ERR_IO);
  ck_assert_str_eq(err.file, ele);
  ck_assert_ptr_nonnull(strstr(err.message, "No such file"));
  ck_assert_ptr_null(m.X);
  tmpdir_remove(&d);
}
END_TEST

START_TEST(test_bad_gmsh) {
  tmpDir d;
  tmpdir_make(&d, "mesh");
  char p[128];
  put(&d, "v3.msh", "$MeshFormat\n3.0 0 8\n$EndMeshFormat\n", p, sizeof p);
  expect_bad_load(p, NULL, 2, 1, "unsupported MSH version 3.0");
  // A binary file: the line after the format holds the endianness int.
  static const char bin[] = "$MeshFormat\n4.1 1 8\n\x01\x00\x00\x00\n$EndMeshFormat\n";
  tmpdir_file(&d, "bin.msh", p, sizeof p);
  FILE *f = fopen(p, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(bin, 1, sizeof bin - 1, f), sizeof bin - 1);
  ck_assert_int_eq(fclose(f), 0);
  expect_bad_load(p, NULL, 2, 5, "binary MSH files are not supported");
  put(&d, "old.msh", "$NOD\n1\n1 0 0 0\n$ENDNOD\n", p, sizeof p);
  expect_bad_load(p, NULL, 1, 1, "MSH version 1 files are not supported");

  // 10-node tets, in both versions.
  put(&d, "t10.msh",
      "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n1\n1 0 0 0\n$EndNodes\n"
      "$Elements\n1\n1 11 2 0 1 1 1 1 1 1 1 1 1 1 1\n$EndElements\n",
      p, sizeof p);
  expect_bad_load(p, NULL, 10, 3, "element type 11 (10-node tetrahedron) is not supported");
  put(&d, "t10b.msh",
      "$MeshFormat\n4.1 0 8\n$EndMeshFormat\n$Nodes\n1 1 1 1\n3 1 0 1\n1\n0 0 0\n$EndNodes\n"
      "$Elements\n1 1 1 1\n3 1 11 1\n1 1 1 1 1 1 1 1 1 1 1\n$EndElements\n",
      p, sizeof p);
  expect_bad_load(p, NULL, 12, 5, "element type 11 (10-node tetrahedron) is not supported");
  // Quads without tets: an error once the file is read (with tets they would be dropped).
  put(&d, "quad.msh",
      "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n4\n1 0 0 0\n2 1 0 0\n3 1 1 0\n4 0 1 0\n"
      "$EndNodes\n$Elements\n1\n1 3 2 0 1 1 2 3 4\n$EndElements\n",
      p, sizeof p);
  expect_bad_load(p, NULL, 13, 3, "element type 3 (4-node quadrangle) is not supported");

  // Undefined node tag, wrong node count, counts that disagree.
  put(&d, "tag.msh",
      "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n3\n1 0 0 0\n2 1 0 0\n3 0 1 0\n$EndNodes\n"
      "$Elements\n1\n1 2 2 0 1 1 2 57\n$EndElements\n",
      p, sizeof p);
  expect_bad_load(p, NULL, 12, 15, "node tag 57 is not defined in $Nodes");
  put(&d, "cnt.msh",
      "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n3\n1 0 0 0\n2 1 0 0\n3 0 1 0\n$EndNodes\n"
      "$Elements\n1\n1 2 2 0 1 1 2\n$EndElements\n",
      p, sizeof p);
  expect_bad_load(p, NULL, 12, 0, "expected 8 values for a 3-node triangle with 2 tags, found 7");
  put(&d, "more.msh",
      "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n2\n1 0 0 0\n2 1 0 0\n3 0 1 0\n$EndNodes\n",
      p, sizeof p);
  expect_bad_load(p, NULL, 8, 1, "expected $EndNodes, found '3'");
  put(&d, "dup.msh",
      "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n3\n1 0 0 0\n2 1 0 0\n1 0 1 0\n$EndNodes\n",
      p, sizeof p);
  expect_bad_load(p, NULL, 8, 0, "node tag 1 is defined twice (also line 6)");
  put(&d, "cut.msh", "$MeshFormat\n4.1 0 8\n$EndMeshFormat\n$Nodes\n1 2 1 2\n3 1 0 2\n1\n", p,
      sizeof p);
  expect_bad_load(p, NULL, 7, 0, "the file ends inside $Nodes");
  put(&d, "fmt.msh", "$Nodes\n", p, sizeof p);
  expect_bad_load(p, NULL, 1, 1, "expected $MeshFormat at the start of a Gmsh file");
  tmpdir_remove(&d);
}
END_TEST

START_TEST(test_bad_obj_and_others) {
  tmpDir d;
  tmpdir_make(&d, "mesh");
  char p[128];
  put(&d, "r.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 57\n", p, sizeof p);
  expect_bad_load(p, NULL, 5, 7, "vertex index 57 out of range 1..4");
  put(&d, "n.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf -1 -2 -4\n", p, sizeof p);
  expect_bad_load(p, NULL, 4, 9, "relative vertex index -4 reaches before the first vertex");
  put(&d, "z.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 0 2\n", p, sizeof p);
  expect_bad_load(p, NULL, 4, 5, "vertex index 0 is invalid");
  put(&d, "f.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1/2/3/4 2 3\n", p, sizeof p);
  expect_bad_load(p, NULL, 4, 3, "expected a vertex reference (v, v/vt, v/vt/vn or v//vn)");
  put(&d, "v.obj", "v 0 0\n", p, sizeof p);
  expect_bad_load(p, NULL, 1, 0, "expected 3 coordinates");
  put(&d, "k.obj", "v 0 0 0\nvx 1 2 3\n", p, sizeof p);
  expect_bad_load(p, NULL, 2, 1, "unknown OBJ statement 'vx'");
  put(&d, "e.obj", "# nothing\n", p, sizeof p);
  expect_bad_load(p, NULL, 1, 0, "no vertices");
  put(&d, "a.obj", "v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n", p, sizeof p);
  expect_bad_load(p, NULL, 4, 0, "triangle 0 has zero area");
  // An unused vertex, at its own line.
  put(&d, "u.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n# spare\nv 5 5 5\nf 1 2 3\n", p, sizeof p);
  expect_bad_load(p, NULL, 5, 0, "vertex 4 is used by no face (it would have no mass)");

  // Non-manifold and inconsistently oriented edges: the file loads, the hinges fail.
  dpMesh m;
  dpError err;
  put(&d, "nm.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 -1 0\nv 0 0 1\n"
      "f 1 2 3\nf 2 1 4\n# third\nf 1 2 5\n", p, sizeof p);
  load_ok(p, &m);
  int *h = (int *)&m, nh = 7;
  dp_error_clear(&err);
  expect_err(dp_mesh_hinges(&m, p, &h, &nh, &err), &err, p, 9, 0,
             "the edge between vertices 0 and 1 is shared by 3 triangles");
  ck_assert_ptr_null(h);
  ck_assert_int_eq(nh, 0);
  dp_mesh_free(&m);
  put(&d, "or.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 -1 0\nf 1 2 3\nf 1 2 4\n", p, sizeof p);
  load_ok(p, &m);
  dp_error_clear(&err);
  expect_err(dp_mesh_hinges(&m, p, &h, &nh, &err), &err, p, 6, 0,
             "triangles 0 and 1 traverse the edge between vertices 0 and 1 in the same direction");
  dp_mesh_free(&m);

  // Unknown extension; unreadable files.
  put(&d, "mesh.stl", "solid x\n", p, sizeof p);
  expect_bad_load(p, NULL, 0, 0, "unknown mesh file extension (known: .node or .ele");
  dp_error_clear(&err);
  tmpdir_file(&d, "none.obj", p, sizeof p);
  ck_assert_int_eq(dp_mesh_load(p, &m, &err), DP_ERR_IO);
  ck_assert_str_eq(err.file, p);
  ck_assert_ptr_nonnull(strstr(err.message, "No such file"));
  tmpdir_file(&d, "dir.msh", p, sizeof p);
  ck_assert_int_eq(mkdir(p, 0700), 0);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_load(p, &m, &err), DP_ERR_IO);
  ck_assert_ptr_nonnull(strstr(err.message, "directory"));
  ck_assert_int_eq(rmdir(p), 0);
  tmpdir_remove(&d);
}
END_TEST

// dp_mesh_check on meshes built in memory: "generated mesh" stands for the file.
START_TEST(test_check_generated) {
  const double size[3] = {1, 2, 3};
  const int res[3] = {1, 1, 2};
  dpMesh m;
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_box_tets(size, res, &m, &err), DP_OK);
  int t = m.tet[4 * 5 + 1];  // invert tet 5
  m.tet[4 * 5 + 1] = m.tet[4 * 5 + 2];
  m.tet[4 * 5 + 2] = t;
  expect_err(dp_mesh_check(&m, NULL, &err), &err, "", 0, 0,
             "generated mesh: tetrahedron 5 is inverted (signed volume -0.5 m^3)");
  m.tet[4 * 5 + 2] = m.tet[4 * 5 + 1];
  m.tet[4 * 5 + 1] = t;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_mesh_check(&m, NULL, &err), DP_OK);
  m.tet[7] = 99;
  expect_err(dp_mesh_check(&m, "x.ele", &err), &err, "x.ele", 0, 0,
             "tetrahedron 1: vertex index 99 out of range 0..11");
  dp_error_clear(&err);
  m.tet[7] = 5;
  m.ntet -= 6;  // the top cell's tets: its four upper vertices lose their elements
  expect_err(dp_mesh_check(&m, NULL, &err), &err, "", 0, 0,
             "generated mesh: vertex 8 is used by no tetrahedron");
  m.ntet += 6;
  m.X[3 * 4 + 1] = NAN;
  dp_error_clear(&err);
  expect_err(dp_mesh_check(&m, NULL, &err), &err, "", 0, 0,
             "vertex 4 has a non-finite coordinate");
  dp_mesh_free(&m);
}
END_TEST

// Every allocation of each path fails in turn: the error is DP_ERR_NOMEM, nothing leaks, and
// once no allocation fails the result is right.
typedef dpStatus (*meshOp)(const char *path, dpMesh *out, dpError *err);

static dpStatus op_box(const char *path, dpMesh *out, dpError *err) {
  (void)path;
  const double size[3] = {1, 1, 1};
  const int res[3] = {2, 2, 2};
  dpStatus st = dp_mesh_box_tets(size, res, out, err);
  int *s = NULL, ns = 0;
  if (st == DP_OK) {
    st = dp_mesh_surface(out, &s, &ns, err);
    dp_free(s);
  }
  if (st == DP_OK) {
    st = dp_mesh_check(out, NULL, err);
  }
  if (st != DP_OK) {
    dp_mesh_free(out);
  }
  return st;
}

static dpStatus op_grid(const char *path, dpMesh *out, dpError *err) {
  (void)path;
  dpStatus st = dp_mesh_grid_tris(1, 1, 3, 2, out, err);
  int *h = NULL, nh = 0;
  if (st == DP_OK) {
    st = dp_mesh_hinges(out, NULL, &h, &nh, err);
    dp_free(h);
  }
  if (st != DP_OK) {
    dp_mesh_free(out);
  }
  return st;
}

START_TEST(test_alloc_failures) {
  tmpDir d;
  tmpdir_make(&d, "mesh");
  char node[128], ele[128], msh[128], obj[128];
  put(&d, "c.node", NODE0, node, sizeof node);
  put(&d, "c.ele", ELE0, ele, sizeof ele);
  put(&d, "c.msh", MSH41, msh, sizeof msh);
  put(&d, "c.obj", OBJ_SHEET, obj, sizeof obj);
  struct {
    meshOp op;
    const char *path;
    int nv;
  } cases[] = {{dp_mesh_load, node, 8}, {dp_mesh_load, msh, 8}, {dp_mesh_load, obj, 6},
               {op_box, NULL, 27},      {op_grid, NULL, 12}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int succeeded = 0, failures = 0;
    for (long n = 1; n <= 200 && !succeeded; n++) {
      tu_fail_alloc f = {0, n, 0};
      dpError err;
      dp_error_clear(&err);
      dpMesh m;
      dp_set_allocator(tu_failing_alloc, &f);
      dpStatus st = cases[c].op(cases[c].path, &m, &err);
      int nv = m.nv;
      dp_mesh_free(&m);
      dp_set_allocator(NULL, NULL);
      ck_assert_msg(f.live == 0, "case %zu, allocation %ld: %ld blocks leaked", c, n, f.live);
      if (f.count < n) {
        ck_assert_msg(st == DP_OK, "case %zu: no failure injected but %s", c, err.message);
        ck_assert_int_eq(nv, cases[c].nv);
        succeeded = 1;
      } else {
        ck_assert_msg(st == DP_ERR_NOMEM, "case %zu, allocation %ld: %s (%s)", c, n,
                      dp_status_string(st), err.message);
        ck_assert_int_eq(nv, 0);
        failures++;
      }
    }
    ck_assert_msg(succeeded && failures >= 3, "case %zu: %d failures", c, failures);
  }
  tmpdir_remove(&d);
}
END_TEST

Suite *make_io_mesh_suite(void) {
  Suite *s = suite_create("io_mesh");
  TCase *tc = tcase_create("generated");
  tcase_add_test(tc, test_box_tets);
  tcase_add_test(tc, test_box_surface);
  tcase_add_test(tc, test_grid_tris);
  tcase_add_test(tc, test_check_generated);
  suite_add_tcase(s, tc);
  tc = tcase_create("files");
  tcase_add_test(tc, test_tetgen);
  tcase_add_test(tc, test_gmsh);
  tcase_add_test(tc, test_obj);
  tcase_add_test(tc, test_fixture_meshes);
  suite_add_tcase(s, tc);
  tc = tcase_create("failures");
  tcase_add_test(tc, test_bad_tetgen);
  tcase_add_test(tc, test_bad_gmsh);
  tcase_add_test(tc, test_bad_obj_and_others);
  tcase_add_test(tc, test_alloc_failures);
  suite_add_tcase(s, tc);
  return s;
}
