// NPZ files: a ZIP archive (libzip: deflate, ZIP64) of NPY arrays, written atomically through a
// temporary file renamed over the target, and read back as float64. NPY layout from the NumPy
// format specification (numpy.lib.format, "The .npy format", versions 1.0–3.0).
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "dp/dp.h"

// NPY data is written and read as raw little-endian bytes: the engine targets x86-64 and aarch64.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "io_npz.c assumes a little-endian host (NPY '<f8' is copied as raw bytes)"
#endif
_Static_assert(sizeof(double) == 8, "double must be IEEE 754 binary64");

#define NPY_MAXDIM 8                // dpNpzEntry.shape has 8 entries
#define NPY_ALIGN 64                // header + preamble length is a multiple of this
#define NPY_HEADER_MAX (1u << 20)   // longest header dict accepted when reading
#define NPY_HEADER_BUF 512          // enough for 8 dimensions of 20 digits
// zlib inflates at most 1032:1, and a stored member is as long as its data; sizes outside
// these bounds mean a corrupt central directory, rejected before allocating.
#define DEFLATE_MAX_RATIO 1032u
#define ZIP_READ_MAX ((uint64_t)1 << 30)  // largest single zip_fread request

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

// A memory buffer handed to zip_source_buffer; libzip reads it at zip_close, so it lives as long
// as the writer.
typedef struct npzBuf {
  struct npzBuf *next;
  unsigned char bytes[];
} npzBuf;

struct dpNpzArray {
  struct dpNpzArray *next;
  char name[DP_PATH_MAX];
  int ndim;
  size_t shape[NPY_MAXDIM];  // shape[0] is the number of rows appended
  size_t row_bytes;
  FILE *spool;               // unlinked temporary file holding the rows appended so far
  int added;                 // the member is in the archive (begin succeeded that far)
  int failed;                // a write failed part way: the spool no longer matches rows
  // ZIP source state, used while zip_close reads the array.
  char header[NPY_HEADER_BUF];
  size_t header_len;
  uint64_t pos;
  zip_error_t zerr;
};

struct dpNpzWriter {
  zip_t *za;
  char *path;       // final name
  char *tmp;        // our temporary file, renamed over path at commit; NULL once gone
  char *dir;        // directory of path: spool files and the fsync after rename
  mode_t mode;      // 0666 & ~umask, as the kernel applied it to tmp
  int method;       // ZIP_CM_STORE or ZIP_CM_DEFLATE
  zip_uint32_t level;
  size_t nmembers;
  npzBuf *bufs;
  dpNpzArray *arrays;
};

// Build the NPY preamble and header dict of a C-order array in buf. Returns the length (a
// multiple of NPY_ALIGN), or 0 if it does not fit.
static size_t npy_header(char *buf, size_t cap, const char *descr, int ndim, const size_t *shape) {
  char dict[NPY_HEADER_BUF];
  size_t n = 0;
  int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  n = (size_t)k;
  for (int i = 0; i < ndim; i++) {
    const char *sep = i + 1 < ndim ? ", " : (ndim == 1 ? "," : "");
    k = snprintf(dict + n, sizeof dict - n, "%zu%s", shape[i], sep);
    if (k < 0 || (size_t)k >= sizeof dict - n) {
      return 0;
    }
    n += (size_t)k;
  }
  k = snprintf(dict + n, sizeof dict - n, "), }");
  if (k < 0 || (size_t)k >= sizeof dict - n) {
    return 0;
  }
  n += (size_t)k;
  // Version 1.0 has a 2-byte header length, 2.0 a 4-byte one (only for headers over 65535).
  size_t pre = 10;
  size_t total = (pre + n + 1 + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
  if (total - pre > 0xffff) {
    pre = 12;
    total = (pre + n + 1 + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
  }
  if (total > cap) {
    return 0;
  }
  size_t hlen = total - pre;
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = pre == 10 ? 1 : 2;
  buf[7] = 0;
  for (size_t i = 0; i < pre - 8; i++) {
    buf[8 + i] = (char)((hlen >> (8 * i)) & 0xff);
  }
  memcpy(buf + pre, dict, n);
  memset(buf + pre + n, ' ', total - pre - n - 1);
  buf[total - 1] = '\n';
  return total;
}

// Number of elements of a shape, or 0 with *ok = 0 on overflow of bytes = count * item.
static size_t shape_count(int ndim, const size_t *shape, size_t item, int *ok) {
  size_t n = 1;
  *ok = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] != 0 && n > SIZE_MAX / shape[i]) {
      *ok = 0;
      return 0;
    }
    n *= shape[i];
  }
  if (item != 0 && n > SIZE_MAX / item) {
    *ok = 0;
    return 0;
  }
  return n;
}

static dpStatus status_of_zip(int code) {
  return code == ZIP_ER_MEMORY ? DP_ERR_NOMEM : DP_ERR_IO;
}

// The archive's last libzip error, for member.
static dpStatus add_failed(dpNpzWriter *w, const char *member, dpError *err) {
  zip_error_t *ze = zip_get_error(w->za);
  return dp_error_set(err, status_of_zip(zip_error_code_zip(ze)), w->path, 0, 0,
                      "'%s': cannot add member '%s': %s", w->path, member, zip_error_strerror(ze));
}

static dpStatus check_name(const dpNpzWriter *w, const char *name, dpError *err) {
  if (w == NULL || w->za == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "npz writer is NULL or finished");
  }
  if (name == NULL || name[0] == '\0') {
    return dp_error_set(err, DP_ERR_INVALID, w->path, 0, 0,
                        "'%s': npz member name is empty", w->path);
  }
  if (strlen(name) >= DP_PATH_MAX) {
    return dp_error_set(err, DP_ERR_INVALID, w->path, 0, 0,
                        "'%s': npz member name '%.40s...' is longer than %d characters",
                        w->path, name, DP_PATH_MAX - 1);
  }
  return DP_OK;
}

// Add src to the archive under member, with the writer's compression; consumes src. *added
// (if non-NULL) tells whether the member is in the archive, even when an error is returned.
static dpStatus add_source(dpNpzWriter *w, const char *member, zip_source_t *src, int *added,
                           dpError *err) {
  zip_int64_t idx = zip_file_add(w->za, member, src, ZIP_FL_ENC_GUESS);
  if (idx < 0) {
    zip_source_free(src);
    if (zip_error_code_zip(zip_get_error(w->za)) == ZIP_ER_EXISTS) {
      return dp_error_set(err, DP_ERR_INVALID, w->path, 0, 0,
                          "'%s': duplicate npz member '%s'", w->path, member);
    }
    return add_failed(w, member, err);
  }
  w->nmembers++;
  if (added != NULL) {
    *added = 1;
  }
  if (zip_set_file_compression(w->za, (zip_uint64_t)idx, w->method, w->level) != 0) {
    zip_error_t *ze = zip_get_error(w->za);
    return dp_error_set(err, status_of_zip(zip_error_code_zip(ze)), w->path, 0, 0,
                        "'%s': cannot set compression of '%s': %s", w->path, member,
                        zip_error_strerror(ze));
  }
  return DP_OK;
}

// Add a member whose bytes are head (hlen) followed by body (blen), copied into a buffer the
// writer owns until commit or abort.
static dpStatus add_bytes(dpNpzWriter *w, const char *member, const void *head, size_t hlen,
                          const void *body, size_t blen, dpError *err) {
  if (blen > SIZE_MAX - sizeof(npzBuf) - hlen) {
    return dp_error_set(err, DP_ERR_INVALID, w->path, 0, 0, "'%s': member '%s' is too large",
                        w->path, member);
  }
  npzBuf *b = dp_malloc(sizeof(npzBuf) + hlen + blen);
  if (b == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, w->path, 0, 0,
                        "'%s': out of memory adding member '%s'", w->path, member);
  }
  if (hlen > 0) {
    memcpy(b->bytes, head, hlen);
  }
  if (blen > 0) {
    memcpy(b->bytes + hlen, body, blen);
  }
  b->next = w->bufs;
  w->bufs = b;  // owned from here on, even if libzip refuses it
  zip_source_t *src = zip_source_buffer(w->za, b->bytes, hlen + blen, 0);
  if (src == NULL) {
    return add_failed(w, member, err);
  }
  return add_source(w, member, src, NULL, err);
}

static dpStatus add_array(dpNpzWriter *w, const char *name, int ndim, const size_t *shape,
                          const void *data, const char *descr, dpError *err) {
  dpStatus st = check_name(w, name, err);
  if (st != DP_OK) {
    return st;
  }
  if (ndim < 0 || ndim > NPY_MAXDIM || (ndim > 0 && shape == NULL)) {
    return dp_error_set(err, DP_ERR_INVALID, w->path, 0, 0,
                        "'%s': array '%s': ndim %d not in 0..%d (or shape is NULL)", w->path,
                        name, ndim, NPY_MAXDIM);
  }
  int ok;
  size_t count = shape_count(ndim, shape, 8, &ok);
  if (!ok) {
    return dp_error_set(err, DP_ERR_INVALID, w->path, 0, 0,
                        "'%s': array '%s': shape overflows", w->path, name);
  }
  if (count > 0 && data == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, w->path, 0, 0, "'%s': array '%s': data is NULL",
                        w->path, name);
  }
  char head[NPY_HEADER_BUF];
  size_t hlen = npy_header(head, sizeof head, descr, ndim, shape);
  char member[DP_PATH_MAX + 4];
  snprintf(member, sizeof member, "%s.npy", name);
  return add_bytes(w, member, head, hlen, data, count * 8, err);
}

// An anonymous file in dir for streamed rows: never visible where O_TMPFILE works, otherwise
// created and unlinked at once.
static FILE *spool_open(const char *dir) {
  int fd = -1;
#ifdef O_TMPFILE
  fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
  if (fd < 0) {
    size_t n = strlen(dir) + 32;
    char *name = dp_malloc(n);
    if (name == NULL) {
      errno = ENOMEM;
      return NULL;
    }
    snprintf(name, n, "%s/.dp-spool.XXXXXX", dir);
    fd = mkstemp(name);
    if (fd >= 0) {
      unlink(name);
    }
    dp_free(name);
    if (fd < 0) {
      return NULL;
    }
  }
  FILE *f = fdopen(fd, "w+b");
  if (f == NULL) {
    int e = errno;
    close(fd);
    errno = e;
  }
  return f;
}

static void writer_free(dpNpzWriter *w) {
  if (w->za != NULL) {
    zip_discard(w->za);  // frees the sources; writes nothing
  }
  if (w->tmp != NULL) {
    unlink(w->tmp);
  }
  while (w->bufs != NULL) {
    npzBuf *next = w->bufs->next;
    dp_free(w->bufs);
    w->bufs = next;
  }
  while (w->arrays != NULL) {
    dpNpzArray *next = w->arrays->next;
    if (w->arrays->spool != NULL) {
      fclose(w->arrays->spool);
    }
    zip_error_fini(&w->arrays->zerr);
    dp_free(w->arrays);
    w->arrays = next;
  }
  dp_free(w->path);
  dp_free(w->tmp);
  dp_free(w->dir);
  dp_free(w);
}

dpStatus dp_npz_open(const char *path, int level, dpNpzWriter **out, dpError *err) {
  dpStatus st = DP_OK;
  dpNpzWriter *w = NULL;
  int fd = -1;
  if (out == NULL || path == NULL || path[0] == '\0') {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "npz path or output is NULL or empty");
  }
  *out = NULL;
  if (level < -1 || level > 9) {
    return dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                        "'%s': compression level %d not in 0..9 (or -1 for default)", path, level);
  }
  w = dp_calloc(1, sizeof *w);
  if (w == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "'%s': out of memory", path);
    goto done;
  }
  // libzip's deflate level 0 means "its default", so level 0 is the store method.
  w->method = level == 0 ? ZIP_CM_STORE : ZIP_CM_DEFLATE;
  w->level = level == 0 ? 0 : (zip_uint32_t)(level < 0 ? 6 : level);
  size_t n = strlen(path);
  w->path = dp_strdup(path);
  w->tmp = dp_malloc(n + 16);
  w->dir = dp_malloc(n + 2);
  if (w->path == NULL || w->tmp == NULL || w->dir == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "'%s': out of memory", path);
    goto done;
  }
  const char *slash = strrchr(path, '/');
  if (slash == NULL) {
    strcpy(w->dir, ".");
  } else if (slash == path) {
    strcpy(w->dir, "/");
  } else {
    memcpy(w->dir, path, (size_t)(slash - path));
    w->dir[slash - path] = '\0';
  }
  fd = dp_atomic_create_tmp(w->tmp, n + 16, path);
  if (fd < 0) {
    int e = errno;
    dp_free(w->tmp);
    w->tmp = NULL;
    st = dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot create '%s': %s", path, strerror(e));
    goto done;
  }
  struct stat sb;
  w->mode = fstat(fd, &sb) == 0 ? (sb.st_mode & 07777) : 0644;
  close(fd);
  fd = -1;
  int zerr = 0;
  w->za = zip_open(w->tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
  if (w->za == NULL) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, zerr);
    st = dp_error_set(err, status_of_zip(zerr), path, 0, 0, "cannot create '%s': %s", path,
                      zip_error_strerror(&ze));
    zip_error_fini(&ze);
    goto done;
  }
  *out = w;
  w = NULL;
done:
  if (fd >= 0) {
    close(fd);
  }
  if (w != NULL) {
    writer_free(w);
  }
  return st;
}

dpStatus dp_npz_add_f64(dpNpzWriter *w, const char *name, int ndim, const size_t *shape,
                        const double *data, dpError *err) {
  return add_array(w, name, ndim, shape, data, "<f8", err);
}

dpStatus dp_npz_add_i64(dpNpzWriter *w, const char *name, int ndim, const size_t *shape,
                        const int64_t *data, dpError *err) {
  return add_array(w, name, ndim, shape, data, "<i8", err);
}

dpStatus dp_npz_add_text(dpNpzWriter *w, const char *member, const char *text, dpError *err) {
  dpStatus st = check_name(w, member, err);
  if (st != DP_OK) {
    return st;
  }
  if (text == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, w->path, 0, 0, "'%s': text of '%s' is NULL",
                        w->path, member);
  }
  return add_bytes(w, member, NULL, 0, text, strlen(text), err);
}

// libzip reads a streamed array through this callback at zip_close: the NPY header, whose
// leading dimension is now known, then the spooled rows.
static zip_int64_t stream_source(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd) {
  dpNpzArray *a = ud;
  uint64_t total = (uint64_t)a->header_len + (uint64_t)a->shape[0] * a->row_bytes;
  switch (cmd) {
    case ZIP_SOURCE_OPEN:
      a->pos = 0;
      if (fseeko(a->spool, 0, SEEK_SET) != 0) {
        zip_error_set(&a->zerr, ZIP_ER_SEEK, errno);
        return -1;
      }
      return 0;
    case ZIP_SOURCE_READ: {
      unsigned char *p = data;
      uint64_t left = total - a->pos;
      uint64_t want = len < left ? len : left;
      uint64_t done = 0;
      if (a->pos < a->header_len) {
        uint64_t h = a->header_len - a->pos;
        h = h < want ? h : want;
        memcpy(p, a->header + a->pos, (size_t)h);
        done = h;
      }
      if (done < want) {
        size_t got = fread(p + done, 1, (size_t)(want - done), a->spool);
        if (got != want - done) {
          zip_error_set(&a->zerr, ZIP_ER_READ, ferror(a->spool) ? errno : EIO);
          return -1;
        }
        done += got;
      }
      a->pos += done;
      return (zip_int64_t)done;
    }
    case ZIP_SOURCE_CLOSE:
      return 0;
    case ZIP_SOURCE_STAT: {
      zip_stat_t *st = ZIP_SOURCE_GET_ARGS(zip_stat_t, data, len, &a->zerr);
      if (st == NULL) {
        return -1;
      }
      zip_stat_init(st);
      st->valid |= ZIP_STAT_SIZE | ZIP_STAT_MTIME;
      st->size = total;  // lets libzip choose ZIP64 up front for members over 4 GiB
      st->mtime = time(NULL);
      return (zip_int64_t)sizeof *st;
    }
    case ZIP_SOURCE_ERROR:
      return zip_error_to_data(&a->zerr, data, len);
    case ZIP_SOURCE_FREE:
      return 0;  // the writer owns the array
    case ZIP_SOURCE_SUPPORTS:
      return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                            ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE,
                                            ZIP_SOURCE_SUPPORTS, -1);
    default:
      zip_error_set(&a->zerr, ZIP_ER_OPNOTSUPP, 0);
      return -1;
  }
}

dpStatus dp_npz_begin_f64(dpNpzWriter *w, const char *name, int ndim, const size_t *shape,
                          dpNpzArray **out, dpError *err) {
  if (out != NULL) {
    *out = NULL;
  }
  dpStatus st = check_name(w, name, err);
  if (st != DP_OK) {
    return st;
  }
  if (out == NULL || ndim < 1 || ndim > NPY_MAXDIM || shape == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, w->path, 0, 0,
                        "'%s': streamed array '%s': ndim %d not in 1..%d (or shape/out NULL)",
                        w->path, name, ndim, NPY_MAXDIM);
  }
  int ok;
  size_t row = shape_count(ndim - 1, shape + 1, 8, &ok);
  if (!ok) {
    return dp_error_set(err, DP_ERR_INVALID, w->path, 0, 0,
                        "'%s': streamed array '%s': row shape overflows", w->path, name);
  }
  dpNpzArray *a = dp_calloc(1, sizeof *a);
  if (a == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, w->path, 0, 0, "'%s': out of memory", w->path);
  }
  zip_error_init(&a->zerr);
  a->next = w->arrays;
  w->arrays = a;  // owned by the writer from here on
  snprintf(a->name, sizeof a->name, "%s", name);
  a->ndim = ndim;
  memcpy(a->shape, shape, (size_t)ndim * sizeof *shape);
  a->shape[0] = 0;
  a->row_bytes = row * 8;
  a->spool = spool_open(w->dir);
  if (a->spool == NULL) {
    int e = errno;
    return dp_error_set(err, e == ENOMEM ? DP_ERR_NOMEM : DP_ERR_IO, w->path, 0, 0,
                        "'%s': cannot create temporary file in '%s' for '%s': %s", w->path,
                        w->dir, name, strerror(e));
  }
  zip_source_t *src = zip_source_function(w->za, stream_source, a);
  if (src == NULL) {
    return add_failed(w, name, err);
  }
  char member[DP_PATH_MAX + 4];
  snprintf(member, sizeof member, "%s.npy", name);
  st = add_source(w, member, src, &a->added, err);
  if (st != DP_OK) {
    a->failed = a->added;  // in the archive but not returned to the caller: commit must fail
    return st;
  }
  *out = a;
  return DP_OK;
}

dpStatus dp_npz_append_f64(dpNpzArray *a, const double *rows, size_t nrows, dpError *err) {
  if (a == NULL || (nrows > 0 && rows == NULL)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "npz append: array or rows is NULL");
  }
  if (a->failed) {
    return dp_error_set(err, DP_ERR_IO, NULL, 0, 0,
                        "npz array '%s': an earlier write failed", a->name);
  }
  if (a->row_bytes != 0 && nrows > SIZE_MAX / a->row_bytes) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "npz array '%s': too many rows",
                        a->name);
  }
  size_t bytes = nrows * a->row_bytes;
  if (bytes > 0 && fwrite(rows, 1, bytes, a->spool) != bytes) {
    a->failed = 1;
    return dp_error_set(err, DP_ERR_IO, NULL, 0, 0,
                        "npz array '%s': cannot write temporary data: %s", a->name,
                        strerror(errno));
  }
  a->shape[0] += nrows;
  return DP_OK;
}

// An archive with no member: the 22-byte end-of-central-directory record alone (what
// numpy.savez writes with no arrays). libzip deletes the file instead.
static int write_empty_zip(const char *name) {
  static const unsigned char eocd[22] = {'P', 'K', 5, 6};
  int fd = open(name, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    return -1;
  }
  int rc = write(fd, eocd, sizeof eocd) == (ssize_t)sizeof eocd ? 0 : -1;
  if (close(fd) != 0) {
    rc = -1;
  }
  return rc;
}

dpStatus dp_npz_commit(dpNpzWriter *w, dpError *err) {
  dpStatus st = DP_OK;
  if (w == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "npz writer is NULL");
  }
  for (dpNpzArray *a = w->arrays; a != NULL; a = a->next) {
    if (!a->added) {
      continue;  // its dp_npz_begin_f64 failed before the member was added
    }
    if (a->failed || fflush(a->spool) != 0) {
      st = dp_error_set(err, DP_ERR_IO, w->path, 0, 0,
                        "cannot write '%s': streamed array '%s' lost data", w->path, a->name);
      goto done;
    }
    a->header_len = npy_header(a->header, sizeof a->header, "<f8", a->ndim, a->shape);
  }
  if (w->nmembers == 0) {
    zip_discard(w->za);
    w->za = NULL;
    if (write_empty_zip(w->tmp) != 0) {
      st = dp_error_set(err, DP_ERR_IO, w->path, 0, 0, "cannot write '%s': %s", w->path,
                        strerror(errno));
      goto done;
    }
  } else if (zip_close(w->za) != 0) {
    // libzip writes to its own temporary next to w->tmp and removes it on failure.
    zip_error_t *ze = zip_get_error(w->za);
    st = dp_error_set(err, status_of_zip(zip_error_code_zip(ze)), w->path, 0, 0,
                      "cannot write '%s': %s", w->path, zip_error_strerror(ze));
    goto done;
  } else {
    w->za = NULL;
  }
  // zip_close replaced w->tmp by a new file: restore the mode and make it durable.
  int fd = open(w->tmp, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fchmod(fd, w->mode) != 0 || fsync(fd) != 0) {
    st = dp_error_set(err, DP_ERR_IO, w->path, 0, 0, "cannot write '%s': %s", w->path,
                      strerror(errno));
    if (fd >= 0) {
      close(fd);
    }
    goto done;
  }
  close(fd);
  if (rename(w->tmp, w->path) != 0) {
    st = dp_error_set(err, DP_ERR_IO, w->path, 0, 0, "cannot rename '%s' to '%s': %s", w->tmp,
                      w->path, strerror(errno));
    goto done;
  }
  dp_free(w->tmp);
  w->tmp = NULL;
  // Make the rename durable; some file systems refuse fsync on a directory, which is harmless.
  int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
done:
  writer_free(w);
  return st;
}

void dp_npz_abort(dpNpzWriter *w) {
  if (w != NULL) {
    writer_free(w);
  }
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

typedef struct npyHeader {
  char descr[8];
  int have_descr, have_order, have_shape;
  int fortran;
  int ndim;
  size_t shape[NPY_MAXDIM];
} npyHeader;

// Context for messages: the file and the member being read.
typedef struct npzCtx {
  const char *path;
  const char *member;
  zip_file_t *zf;
  dpError *err;
} npzCtx;

static dpStatus bad_member(const npzCtx *c, dpStatus code, const char *what, const char *detail) {
  return dp_error_set(c->err, code, c->path, 0, 0, "'%s': member '%s': %s%s%s", c->path,
                      c->member, what, detail[0] != '\0' ? ": " : "", detail);
}

// Read exactly n bytes of the member; a short read or a libzip error (inflate, CRC) is
// DP_ERR_INVALID.
static dpStatus read_exact(const npzCtx *c, void *buf, uint64_t n) {
  unsigned char *p = buf;
  uint64_t got = 0;
  while (got < n) {
    // libzip 1.7 inflates through zlib's 32-bit avail_out and miscounts reads over 4 GiB.
    uint64_t want = n - got < ZIP_READ_MAX ? n - got : ZIP_READ_MAX;
    zip_int64_t r = zip_fread(c->zf, p + got, want);
    if (r < 0) {
      zip_error_t *ze = zip_file_get_error(c->zf);
      dpStatus code = zip_error_code_zip(ze) == ZIP_ER_MEMORY ? DP_ERR_NOMEM : DP_ERR_INVALID;
      return bad_member(c, code, "corrupt data", zip_error_strerror(ze));
    }
    if (r == 0) {
      return bad_member(c, DP_ERR_INVALID, "truncated member", "");
    }
    got += (uint64_t)r;
  }
  return DP_OK;
}

// After the expected bytes, the member must end; reading to its end also makes libzip check
// the CRC.
static dpStatus read_end(const npzCtx *c) {
  unsigned char extra;
  zip_int64_t r = zip_fread(c->zf, &extra, 1);
  if (r < 0) {
    zip_error_t *ze = zip_file_get_error(c->zf);
    return bad_member(c, DP_ERR_INVALID, "corrupt data", zip_error_strerror(ze));
  }
  if (r > 0) {
    return bad_member(c, DP_ERR_INVALID, "corrupt data", "longer than its recorded size");
  }
  return DP_OK;
}

static void skip_ws(const char **p, const char *end) {
  while (*p < end && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')) {
    (*p)++;
  }
}

// A Python string literal without escapes, quoted with ' or ". Returns its length or -1.
static int parse_str(const char **p, const char *end, char *out, size_t cap) {
  if (*p >= end || (**p != '\'' && **p != '"')) {
    return -1;
  }
  char q = **p;
  const char *s = ++(*p);
  while (*p < end && **p != q) {
    if (**p == '\\') {
      return -1;
    }
    (*p)++;
  }
  if (*p >= end || (size_t)(*p - s) >= cap) {
    return -1;
  }
  size_t n = (size_t)(*p - s);
  memcpy(out, s, n);
  out[n] = '\0';
  (*p)++;
  return (int)n;
}

// Parse the header dict: exactly the keys descr, fortran_order and shape (as numpy requires).
// Returns NULL on success or a description of what is wrong.
static const char *parse_dict(const char *p, const char *end, npyHeader *h) {
  memset(h, 0, sizeof *h);
  skip_ws(&p, end);
  if (p >= end || *p != '{') {
    return "expected '{'";
  }
  p++;
  for (;;) {
    skip_ws(&p, end);
    if (p < end && *p == '}') {
      break;
    }
    char key[32];
    if (parse_str(&p, end, key, sizeof key) < 0) {
      return "expected a quoted key";
    }
    skip_ws(&p, end);
    if (p >= end || *p != ':') {
      return "expected ':' after a key";
    }
    p++;
    skip_ws(&p, end);
    if (strcmp(key, "descr") == 0) {
      if (h->have_descr++ || parse_str(&p, end, h->descr, sizeof h->descr) < 0) {
        return "bad or repeated 'descr' (expected a short dtype string such as '<f8')";
      }
    } else if (strcmp(key, "fortran_order") == 0) {
      if (h->have_order++) {
        return "repeated 'fortran_order'";
      }
      if (end - p >= 4 && memcmp(p, "True", 4) == 0) {
        h->fortran = 1;
        p += 4;
      } else if (end - p >= 5 && memcmp(p, "False", 5) == 0) {
        p += 5;
      } else {
        return "'fortran_order' is not True or False";
      }
    } else if (strcmp(key, "shape") == 0) {
      if (h->have_shape++) {
        return "repeated 'shape'";
      }
      if (p >= end || *p != '(') {
        return "'shape' is not a tuple";
      }
      p++;
      int commas = 0;
      for (;;) {
        skip_ws(&p, end);
        if (p < end && *p == ')') {
          break;
        }
        if (p >= end || *p < '0' || *p > '9') {
          return "'shape' holds something other than non-negative integers";
        }
        if (h->ndim == NPY_MAXDIM) {
          return "more than 8 dimensions";
        }
        size_t v = 0;
        while (p < end && *p >= '0' && *p <= '9') {
          size_t d = (size_t)(*p - '0');
          if (v > (SIZE_MAX - d) / 10) {
            return "a dimension overflows";
          }
          v = v * 10 + d;
          p++;
        }
        h->shape[h->ndim++] = v;
        skip_ws(&p, end);
        if (p < end && *p == ',') {
          commas++;
          p++;
        } else if (p >= end || *p != ')') {
          return "expected ',' or ')' in 'shape'";
        }
      }
      if (h->ndim == 1 && commas == 0) {
        return "'shape' (n) is not a tuple (expected (n,))";
      }
      p++;
    } else {
      return "unexpected key (expected only 'descr', 'fortran_order', 'shape')";
    }
    skip_ws(&p, end);
    if (p < end && *p == ',') {
      p++;
    } else if (p >= end || *p != '}') {
      return "expected ',' or '}' after a value";
    }
  }
  p++;
  skip_ws(&p, end);
  if (p != end) {
    return "unexpected text after the dict";
  }
  if (!h->have_descr || !h->have_order || !h->have_shape) {
    return "missing 'descr', 'fortran_order' or 'shape'";
  }
  return NULL;
}

// Size of one element of a supported descr, or 0.
static size_t descr_size(const char *d) {
  static const struct {
    const char *descr;
    size_t size;
  } known[] = {{"<f8", 8}, {"<f4", 4}, {"<i8", 8}, {"<i4", 4}, {"<i2", 2},
               {"|u1", 1}, {"|i1", 1}, {"|b1", 1}};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    if (strcmp(d, known[i].descr) == 0) {
      return known[i].size;
    }
  }
  return 0;
}

static void convert(const char *descr, const unsigned char *src, size_t n, double *dst) {
  switch (descr[1]) {
    case 'f':
      if (descr[2] == '8') {
        memcpy(dst, src, n * 8);
      } else {
        for (size_t i = 0; i < n; i++) {
          float v;
          memcpy(&v, src + 4 * i, 4);
          dst[i] = v;
        }
      }
      break;
    case 'i':
      for (size_t i = 0; i < n; i++) {
        if (descr[2] == '8') {
          int64_t v;
          memcpy(&v, src + 8 * i, 8);
          dst[i] = (double)v;
        } else if (descr[2] == '4') {
          int32_t v;
          memcpy(&v, src + 4 * i, 4);
          dst[i] = v;
        } else if (descr[2] == '2') {
          int16_t v;
          memcpy(&v, src + 2 * i, 2);
          dst[i] = v;
        } else {
          dst[i] = (int8_t)src[i];
        }
      }
      break;
    case 'u':
      for (size_t i = 0; i < n; i++) {
        dst[i] = src[i];
      }
      break;
    default:  // 'b': numpy bools are 0 or 1
      for (size_t i = 0; i < n; i++) {
        dst[i] = src[i] != 0 ? 1.0 : 0.0;
      }
      break;
  }
}

// Fortran-order data (first index fastest) to C order (last index fastest), through a copy.
static dpStatus fortran_to_c(const npzCtx *c, dpNpzEntry *e) {
  if (e->ndim < 2 || e->size == 0) {
    return DP_OK;
  }
  double *out = dp_malloc(e->size * sizeof *out);
  if (out == NULL) {
    return bad_member(c, DP_ERR_NOMEM, "out of memory", "");
  }
  size_t idx[NPY_MAXDIM] = {0};
  for (size_t k = 0; k < e->size; k++) {
    size_t f = 0;
    for (int d = e->ndim - 1; d >= 0; d--) {
      f = f * e->shape[d] + idx[d];
    }
    out[k] = e->data[f];
    for (int d = e->ndim - 1; d >= 0; d--) {
      if (++idx[d] < e->shape[d]) {
        break;
      }
      idx[d] = 0;
    }
  }
  dp_free(e->data);
  e->data = out;
  return DP_OK;
}

static dpStatus read_npy(const npzCtx *c, uint64_t size, dpNpzEntry *e) {
  dpStatus st = DP_OK;
  char *hdr = NULL;
  unsigned char *chunk = NULL;
  unsigned char pre[12];
  if (size < 10) {
    return bad_member(c, DP_ERR_INVALID, "bad NPY header", "shorter than the NPY preamble");
  }
  st = read_exact(c, pre, 10);
  if (st != DP_OK) {
    goto done;
  }
  if (memcmp(pre, "\x93NUMPY", 6) != 0) {
    st = bad_member(c, DP_ERR_INVALID, "bad NPY header", "no \\x93NUMPY magic");
    goto done;
  }
  int major = pre[6];
  uint64_t plen = major == 1 ? 10 : 12;
  if ((major < 1 || major > 3) || pre[7] != 0) {
    char v[32];
    snprintf(v, sizeof v, "unsupported version %d.%d", pre[6], pre[7]);
    st = bad_member(c, DP_ERR_INVALID, "bad NPY header", v);
    goto done;
  }
  uint64_t hlen = (uint64_t)pre[8] | ((uint64_t)pre[9] << 8);
  if (major > 1) {
    if (size < 12) {
      st = bad_member(c, DP_ERR_INVALID, "bad NPY header", "shorter than the NPY preamble");
      goto done;
    }
    st = read_exact(c, pre + 10, 2);
    if (st != DP_OK) {
      goto done;
    }
    hlen |= ((uint64_t)pre[10] << 16) | ((uint64_t)pre[11] << 24);
  }
  if (hlen > size - plen || hlen > NPY_HEADER_MAX) {
    st = bad_member(c, DP_ERR_INVALID, "bad NPY header", "header length exceeds the member");
    goto done;
  }
  hdr = dp_malloc((size_t)hlen + 1);
  if (hdr == NULL) {
    st = bad_member(c, DP_ERR_NOMEM, "out of memory", "");
    goto done;
  }
  st = read_exact(c, hdr, hlen);
  if (st != DP_OK) {
    goto done;
  }
  hdr[hlen] = '\0';
  npyHeader h;
  const char *why = parse_dict(hdr, hdr + hlen, &h);
  if (why != NULL) {
    st = bad_member(c, DP_ERR_INVALID, "bad NPY header", why);
    goto done;
  }
  size_t item = descr_size(h.descr);
  if (item == 0) {
    char d[64];
    snprintf(d, sizeof d, "unsupported dtype '%s'", h.descr);
    st = bad_member(c, DP_ERR_INVALID, "bad NPY header", d);
    goto done;
  }
  int ok;
  size_t count = shape_count(h.ndim, h.shape, 8, &ok);
  uint64_t data_bytes = size - plen - hlen;
  if (!ok || (uint64_t)count * item != data_bytes) {
    char d[96];
    snprintf(d, sizeof d, "shape and dtype need %s bytes of data but the member holds %llu",
             ok ? "a different number of" : "more than addressable",
             (unsigned long long)data_bytes);
    st = bad_member(c, DP_ERR_INVALID, "size mismatch", d);
    goto done;
  }
  // count * item equals the member's (plausibility-checked) size: the allocation is bounded.
  snprintf(e->dtype, sizeof e->dtype, "%s", h.descr);
  e->ndim = h.ndim;
  memcpy(e->shape, h.shape, sizeof h.shape);
  e->size = count;
  e->data = dp_malloc(count * sizeof(double));
  if (e->data == NULL) {
    st = bad_member(c, DP_ERR_NOMEM, "out of memory", "");
    goto done;
  }
  if (item == 8 && h.descr[1] == 'f') {
    st = read_exact(c, e->data, data_bytes);
  } else {
    enum { CHUNK = 1 << 16 };  // a multiple of every item size
    chunk = dp_malloc(CHUNK);
    if (chunk == NULL) {
      st = bad_member(c, DP_ERR_NOMEM, "out of memory", "");
      goto done;
    }
    size_t done_n = 0;
    while (st == DP_OK && done_n < count) {
      size_t n = count - done_n < CHUNK / item ? count - done_n : CHUNK / item;
      st = read_exact(c, chunk, (uint64_t)n * item);
      if (st == DP_OK) {
        convert(h.descr, chunk, n, e->data + done_n);
        done_n += n;
      }
    }
  }
  if (st == DP_OK) {
    st = read_end(c);
  }
  if (st == DP_OK && h.fortran) {
    st = fortran_to_c(c, e);
  }
done:
  dp_free(hdr);
  dp_free(chunk);
  return st;
}

static dpStatus read_member(zip_t *za, zip_uint64_t i, const char *path, uint64_t file_size,
                            dpNpz *z, dpError *err) {
  dpStatus st = DP_OK;
  npzCtx c = {path, "?", NULL, err};
  zip_stat_t zs;
  char index_name[32];
  snprintf(index_name, sizeof index_name, "#%llu", (unsigned long long)i);
  c.member = index_name;
  if (zip_stat_index(za, i, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_NAME) ||
      !(zs.valid & ZIP_STAT_SIZE) || !(zs.valid & ZIP_STAT_COMP_SIZE) ||
      !(zs.valid & ZIP_STAT_COMP_METHOD)) {
    return bad_member(&c, DP_ERR_INVALID, "unreadable directory entry", "");
  }
  c.member = zs.name;
  size_t nlen = strlen(zs.name);
  if (nlen > 0 && zs.name[nlen - 1] == '/') {
    return DP_OK;  // a directory entry holds nothing
  }
  int is_npy = nlen > 4 && strcmp(zs.name + nlen - 4, ".npy") == 0;
  size_t keep = is_npy ? nlen - 4 : nlen;
  if (keep >= DP_PATH_MAX) {
    return bad_member(&c, DP_ERR_INVALID, "name too long", "");
  }
  if (zs.comp_method != ZIP_CM_STORE && zs.comp_method != ZIP_CM_DEFLATE) {
    return bad_member(&c, DP_ERR_INVALID, "unsupported compression method",
                      "npz members are deflated or stored");
  }
  if (zs.comp_size > file_size ||
      (zs.comp_method == ZIP_CM_STORE && zs.size != zs.comp_size) ||
      (zs.comp_method == ZIP_CM_DEFLATE && zs.size / DEFLATE_MAX_RATIO > zs.comp_size)) {
    return bad_member(&c, DP_ERR_INVALID, "corrupt directory entry",
                      "sizes are impossible for this file");
  }
  dpNpzEntry *e = &z->entry[z->n];
  memset(e, 0, sizeof *e);
  memcpy(e->name, zs.name, keep);
  e->name[keep] = '\0';
  c.zf = zip_fopen_index(za, i, 0);
  if (c.zf == NULL) {
    zip_error_t *ze = zip_get_error(za);
    dpStatus code = zip_error_code_zip(ze) == ZIP_ER_MEMORY ? DP_ERR_NOMEM : DP_ERR_INVALID;
    return bad_member(&c, code, "cannot open", zip_error_strerror(ze));
  }
  if (is_npy) {
    st = read_npy(&c, zs.size, e);
  } else if (zs.size >= SIZE_MAX) {
    st = bad_member(&c, DP_ERR_INVALID, "too large", "");
  } else {
    e->text = dp_malloc((size_t)zs.size + 1);
    if (e->text == NULL) {
      st = bad_member(&c, DP_ERR_NOMEM, "out of memory", "");
    } else {
      st = read_exact(&c, e->text, zs.size);
      e->text[zs.size] = '\0';
      if (st == DP_OK) {
        st = read_end(&c);
      }
    }
  }
  zip_fclose(c.zf);
  z->n++;  // counted even on failure, so dp_npz_free releases what was read
  return st;
}

// Map a zip_open error to a status and message; magic is the first bytes of the file.
static dpStatus open_error(const char *path, int zerr, const unsigned char *magic, size_t nmagic,
                           dpError *err) {
  if (zerr == ZIP_ER_NOZIP && nmagic >= 4 && memcmp(magic, "PK\3\4", 4) == 0) {
    return dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                        "'%s': truncated npz (no zip end of central directory)", path);
  }
  if (zerr == ZIP_ER_NOZIP) {
    return dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                        "'%s': not an npz file (not a zip archive)", path);
  }
  zip_error_t ze;
  zip_error_init_with_code(&ze, zerr);
  dpStatus code = DP_ERR_INVALID;
  if (zerr == ZIP_ER_MEMORY) {
    code = DP_ERR_NOMEM;
  } else if (zerr == ZIP_ER_READ || zerr == ZIP_ER_OPEN || zerr == ZIP_ER_SEEK) {
    code = DP_ERR_IO;
  }
  dp_error_set(err, code, path, 0, 0, "'%s': %s npz: %s", path,
               code == DP_ERR_INVALID ? "corrupt" : "cannot read", zip_error_strerror(&ze));
  zip_error_fini(&ze);
  return code;
}

dpStatus dp_npz_read(const char *path, dpNpz **out, dpError *err) {
  dpStatus st = DP_OK;
  dpNpz *z = NULL;
  zip_t *za = NULL;
  if (out == NULL || path == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "npz path or output is NULL");
  }
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot open '%s': %s", path,
                        strerror(errno));
  }
  struct stat sb;
  unsigned char magic[4];
  ssize_t nmagic = 0;
  if (fstat(fd, &sb) != 0) {
    st = dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot open '%s': %s", path, strerror(errno));
    goto done;
  }
  if (S_ISDIR(sb.st_mode)) {
    st = dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot read '%s': %s", path, strerror(EISDIR));
    goto done;
  }
  if (sb.st_size == 0) {
    st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0, "'%s': empty file, not an npz", path);
    goto done;
  }
  nmagic = pread(fd, magic, sizeof magic, 0);
  int zerr = 0;
  za = zip_fdopen(fd, ZIP_CHECKCONS, &zerr);
  if (za == NULL) {
    st = open_error(path, zerr, magic, nmagic > 0 ? (size_t)nmagic : 0, err);
    goto done;
  }
  fd = -1;  // owned by libzip now
  zip_int64_t n = zip_get_num_entries(za, 0);
  z = dp_calloc(1, sizeof *z);
  if (n < 0 || z == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "'%s': out of memory", path);
    goto done;
  }
  z->entry = dp_calloc((size_t)n, sizeof *z->entry);
  if (z->entry == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "'%s': out of memory", path);
    goto done;
  }
  for (zip_int64_t i = 0; i < n && st == DP_OK; i++) {
    st = read_member(za, (zip_uint64_t)i, path, (uint64_t)sb.st_size, z, err);
  }
  if (st == DP_OK) {
    *out = z;
    z = NULL;
  }
done:
  if (za != NULL) {
    zip_discard(za);
  }
  if (fd >= 0) {
    close(fd);
  }
  dp_npz_free(z);
  return st;
}

const dpNpzEntry *dp_npz_get(const dpNpz *z, const char *name) {
  if (z == NULL || name == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < z->n; i++) {
    if (strcmp(z->entry[i].name, name) == 0) {
      return &z->entry[i];
    }
  }
  return NULL;
}

void dp_npz_free(dpNpz *z) {
  if (z == NULL) {
    return;
  }
  if (z->entry != NULL) {
    for (size_t i = 0; i < z->n; i++) {
      dp_free(z->entry[i].data);
      dp_free(z->entry[i].text);
    }
    dp_free(z->entry);
  }
  dp_free(z);
}
