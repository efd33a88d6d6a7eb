// Status codes and the dpError record: the library never prints; it fills the first error.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dp/dp.h"

dpStatus dp_error_set(dpError *err, dpStatus code, const char *file, int line, int column,
                      const char *fmt, ...) {
  if (err == NULL || err->code != DP_OK) {
    return code;
  }
  err->code = code;
  err->line = line;
  err->column = column;
  err->file[0] = '\0';
  if (file != NULL) {
    snprintf(err->file, sizeof err->file, "%s", file);
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return code;
}

void dp_error_clear(dpError *err) {
  if (err != NULL) {
    memset(err, 0, sizeof *err);
  }
}

const char *dp_status_string(dpStatus code) {
  switch (code) {
    case DP_OK: return "ok";
    case DP_ERR_INVALID: return "invalid input";
    case DP_ERR_IO: return "i/o error";
    case DP_ERR_NOMEM: return "out of memory";
    case DP_ERR_DIVERGED: return "simulation diverged";
    case DP_ERR_NO_CUDA: return "cuda not available";
    case DP_ERR_CUDA: return "cuda error";
  }
  return "unknown status";
}
