// The edit distance behind "did you mean" suggestions (scene keys, loss keys, parameter paths).
#include "core_text.h"

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
