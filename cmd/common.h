// Shared pieces of the dp command-line tools: error printing and exit codes, --set collection,
// numbers from options, timing, and JSON output helpers. Only cmd/ prints or exits.
#ifndef DP_CMD_COMMON_H
#define DP_CMD_COMMON_H

#include <stdio.h>

#include "dp/dp.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

extern const char *cli_tool;  // "dp-simulate", ... (set by cli_init)

void cli_init(const char *tool);
// "tool: message" on stderr (printf style); returns EXIT_USAGE.
int cli_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
// Print err as "tool: file:line:column: message" (the parts that exist) and return the exit
// code: 2 for bad input (DP_ERR_INVALID, and DP_ERR_IO when input_stage), 1 otherwise.
int cli_report(const dpError *err, int input_stage);
// Parse a number / integer option value; on failure print and return 0.
int cli_parse_double(const char *opt, const char *s, double *out);
int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out);
// A growing list of strings (for --set, --wrt).
typedef struct {
  const char **v;
  int n, cap;
} cli_list;
int cli_list_push(cli_list *l, const char *s);
void cli_list_free(cli_list *l);
// --set PATH=VALUE: append to sets; --device cpu|cuda. On a bad value print and return 0.
int cli_add_set(cli_list *sets, const char *arg);
int cli_parse_device(const char *arg, dpDevice *device);
// Seconds since an arbitrary origin (monotonic).
double cli_now(void);
// Peak resident set size of this process, bytes (0 if unknown).
size_t cli_peak_rss(void);
// 1 when stderr is a terminal (progress is shown only then).
int cli_stderr_tty(void);
// Print the version line ("tool (dp) 0.1.0").
void cli_version(void);
// Write a JSON number (finite: %.17g; non-finite: null).
void cli_json_number(FILE *f, double x);
void cli_json_string(FILE *f, const char *s);

#endif
