// The edit distance behind "did you mean" suggestions (scene keys, loss keys, parameter paths).
#include "core_text.h"

#include <fnmatch.h>
#include <string.h>

#define DP_EDIT_MAX 160

int dp_edit_distance(const char *a, const char *b) {
  int na = (int)strnlen(a, DP_EDIT_MAX - 1), nb = (int)strnlen(b, DP_EDIT_MAX - 1);
  // Three rolling rows: i-2, i-1, i.
  int rows[3][DP_EDIT_MAX];
  for (int j = 0; j <= nb; j++) {
    rows[0][j] = j;
  }
  for (int i = 1; i <= na; i++) {
    int *cur = rows[i % 3], *prev = rows[(i - 1) % 3], *prev2 = rows[(i + 1) % 3];
    cur[0] = i;
    for (int j = 1; j <= nb; j++) {
      int v = prev[j] + 1;
      v = cur[j - 1] + 1 < v ? cur[j - 1] + 1 : v;
      int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
      v = sub < v ? sub : v;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          prev2[j - 2] + 1 < v) {
        v = prev2[j - 2] + 1;
      }
      cur[j] = v;
    }
  }
  return rows[na % 3][nb];
}

int dp_path_match(const char *pattern, const char *path) {
  char pc[DP_EDIT_MAX], xc[DP_EDIT_MAX];
  for (;;) {
    size_t lp = strcspn(pattern, "."), lx = strcspn(path, ".");
    if (lp >= DP_EDIT_MAX || lx >= DP_EDIT_MAX) {
      return 0;
    }
    memcpy(pc, pattern, lp);
    pc[lp] = '\0';
    memcpy(xc, path, lx);
    xc[lx] = '\0';
    if (fnmatch(pc, xc, 0) != 0) {
      return 0;
    }
    if (pattern[lp] == '\0' || path[lx] == '\0') {
      return pattern[lp] == path[lx];
    }
    pattern += lp + 1;
    path += lx + 1;
  }
}
