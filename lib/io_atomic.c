// Atomic output files: written under "<path>.tmp.XXXXXX" next to the target, flushed and
// fsynced, then renamed over it (rename(2) is atomic within a file system), and the directory
// fsynced so the rename survives a crash. Used by every writer of CSV, YAML, PNG and NPZ.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dp/dp.h"

#define TMP_TRIES 100

int dp_atomic_create_tmp(char *name, size_t cap, const char *path) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  static unsigned counter;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 16) ^
               ((uint64_t)(uintptr_t)name) ^ ((uint64_t)++counter << 48);
  for (int attempt = 0; attempt < TMP_TRIES; attempt++) {
    char suffix[7];
    for (int i = 0; i < 6; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      suffix[i] = alphabet[x % (sizeof alphabet - 1)];
    }
    suffix[6] = '\0';
    snprintf(name, cap, "%s.tmp.%s", path, suffix);
    // 0666 & ~umask, as fopen would give (mkstemp would give 0600).
    int fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST) {
      return fd;
    }
  }
  errno = EEXIST;
  return -1;
}

dpStatus dp_atomic_open(dpAtomicFile *a, const char *path, dpError *err) {
  memset(a, 0, sizeof *a);
  if (path == NULL || path[0] == '\0') {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "output path is empty");
  }
  size_t cap = strlen(path) + 16;
  a->path = dp_strdup(path);
  a->tmp = dp_malloc(cap);
  if (a->path == NULL || a->tmp == NULL) {
    dp_atomic_abort(a);
    return dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "'%s': out of memory", path);
  }
  int fd = dp_atomic_create_tmp(a->tmp, cap, path);
  if (fd < 0) {
    int e = errno;
    dp_free(a->tmp);
    a->tmp = NULL;
    dp_atomic_abort(a);
    return dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot create '%s': %s", path, strerror(e));
  }
  a->f = fdopen(fd, "wb");
  if (a->f == NULL) {
    int e = errno;
    close(fd);
    dp_atomic_abort(a);
    return dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot create '%s': %s", path, strerror(e));
  }
  return DP_OK;
}

dpStatus dp_atomic_commit(dpAtomicFile *a, dpError *err) {
  dpStatus st = DP_OK;
  int bad = ferror(a->f) != 0;
  int e = errno;
  if (!bad && (fflush(a->f) != 0 || fsync(fileno(a->f)) != 0)) {
    bad = 1;
    e = errno;
  }
  if (fclose(a->f) != 0 && !bad) {
    bad = 1;
    e = errno;
  }
  a->f = NULL;
  if (bad) {
    st = dp_error_set(err, DP_ERR_IO, a->path, 0, 0, "cannot write '%s': %s", a->path,
                      strerror(e != 0 ? e : EIO));
    goto done;
  }
  if (rename(a->tmp, a->path) != 0) {
    st = dp_error_set(err, DP_ERR_IO, a->path, 0, 0, "cannot rename '%s' to '%s': %s", a->tmp,
                      a->path, strerror(errno));
    goto done;
  }
  dp_free(a->tmp);
  a->tmp = NULL;
  {
    // Make the rename durable; some file systems refuse fsync on a directory (harmless).
    const char *slash = strrchr(a->path, '/');
    char dir[4096];
    if (slash == NULL) {
      strcpy(dir, ".");
    } else if (slash == a->path) {
      strcpy(dir, "/");
    } else {
      snprintf(dir, sizeof dir, "%.*s", (int)(slash - a->path), a->path);
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)fsync(dfd);
      close(dfd);
    }
  }
done:
  dp_atomic_abort(a);
  return st;
}

void dp_atomic_abort(dpAtomicFile *a) {
  if (a == NULL) {
    return;
  }
  if (a->f != NULL) {
    fclose(a->f);
    a->f = NULL;
  }
  if (a->tmp != NULL) {
    unlink(a->tmp);
    dp_free(a->tmp);
    a->tmp = NULL;
  }
  dp_free(a->path);
  a->path = NULL;
}
