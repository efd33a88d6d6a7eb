// Shared pieces of the dp tools: messages in git's style ("tool: file:line:col: message"),
// exit codes (0 ok, 1 run failed, 2 bad usage or input), option parsing helpers.
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

const char *cli_tool = "dp";

void cli_init(const char *tool) {
  cli_tool = tool;
}

int cli_usage_error(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", cli_tool);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  return EXIT_USAGE;
}

int cli_report(const dpError *err, int input_stage) {
  fprintf(stderr, "%s: ", cli_tool);
  if (err->file[0] != '\0') {
    fprintf(stderr, "%s:", err->file);
    if (err->line > 0) {
      fprintf(stderr, "%d:", err->line);
      if (err->column > 0) {
        fprintf(stderr, "%d:", err->column);
      }
    }
    fprintf(stderr, " ");
  }
  fprintf(stderr, "%s\n", err->message[0] ? err->message : dp_status_string(err->code));
  if (err->code == DP_ERR_INVALID || (err->code == DP_ERR_IO && input_stage)) {
    return EXIT_USAGE;
  }
  return EXIT_FAIL;
}

int cli_parse_double(const char *opt, const char *s, double *out) {
  char *end = NULL;
  errno = 0;
  double x = strtod(s, &end);
  if (end == s || *end != '\0' || errno != 0 || !isfinite(x)) {
    cli_usage_error("option '%s': '%s' is not a finite number", opt, s);
    return 0;
  }
  *out = x;
  return 1;
}

int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
  char *end = NULL;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (end == s || *end != '\0' || errno != 0) {
    cli_usage_error("option '%s': '%s' is not an integer", opt, s);
    return 0;
  }
  if (x < lo || x > hi) {
    cli_usage_error("option '%s': %ld is out of range [%ld, %ld]", opt, x, lo, hi);
    return 0;
  }
  *out = x;
  return 1;
}

int cli_list_push(cli_list *l, const char *s) {
  if (l->n == l->cap) {
    int ncap = l->cap == 0 ? 8 : 2 * l->cap;
    const char **nv = realloc(l->v, (size_t)ncap * sizeof *nv);
    if (nv == NULL) {
      return 0;
    }
    l->v = nv;
    l->cap = ncap;
  }
  l->v[l->n++] = s;
  return 1;
}

int cli_add_set(cli_list *sets, const char *arg) {
  if (strchr(arg, '=') == NULL) {
    cli_usage_error("option '--set': expected PATH=VALUE, got '%s'", arg);
    return 0;
  }
  if (!cli_list_push(sets, arg)) {
    cli_usage_error("out of memory");
    return 0;
  }
  return 1;
}

int cli_parse_device(const char *arg, dpDevice *device) {
  if (strcmp(arg, "cpu") == 0) {
    *device = DP_DEVICE_CPU;
  } else if (strcmp(arg, "cuda") == 0) {
    *device = DP_DEVICE_CUDA;
  } else {
    cli_usage_error("option '--device': unknown device '%s' (use cpu or cuda)", arg);
    return 0;
  }
  return 1;
}

void cli_list_free(cli_list *l) {
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t cli_peak_rss(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) {
    return 0;
  }
  return (size_t)ru.ru_maxrss * 1024;
}

int cli_stderr_tty(void) {
  return isatty(STDERR_FILENO);
}

void cli_version(void) {
  printf("%s (dp) %s\n", cli_tool, DP_VERSION);
}

void cli_json_number(FILE *f, double x) {
  if (isfinite(x)) {
    fprintf(f, "%.17g", x);
  } else {
    fputs("null", f);
  }
}

void cli_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      fprintf(f, "\\%c", c);
    } else if (c < 0x20) {
      fprintf(f, "\\u%04x", c);
    } else {
      fputc(c, f);
    }
  }
  fputc('"', f);
}
