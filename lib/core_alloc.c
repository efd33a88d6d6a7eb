// The allocator hook: every allocation of the library goes through dp_malloc/dp_realloc/dp_free,
// so tests can make the Nth allocation fail and prove each error path (as Lua's lua_Alloc).
#include <stdlib.h>
#include <string.h>

#include "dp/dp.h"

static void *default_alloc(void *ud, void *ptr, size_t oldsize, size_t newsize) {
  (void)ud;
  (void)oldsize;
  if (newsize == 0) {
    free(ptr);
    return NULL;
  }
  return realloc(ptr, newsize);
}

static dpAllocFn g_alloc = default_alloc;
static void *g_alloc_ud = NULL;

void dp_set_allocator(dpAllocFn fn, void *ud) {
  g_alloc = fn != NULL ? fn : default_alloc;
  g_alloc_ud = fn != NULL ? ud : NULL;
}

void *dp_malloc(size_t n) {
  return g_alloc(g_alloc_ud, NULL, 0, n == 0 ? 1 : n);
}

void *dp_calloc(size_t count, size_t size) {
  if (size != 0 && count > (size_t)-1 / size) {
    return NULL;
  }
  void *p = dp_malloc(count * size);
  if (p != NULL) {
    memset(p, 0, count * size == 0 ? 1 : count * size);
  }
  return p;
}

void *dp_realloc(void *p, size_t oldsize, size_t newsize) {
  return g_alloc(g_alloc_ud, p, oldsize, newsize == 0 ? 1 : newsize);
}

void dp_free(void *p) {
  if (p != NULL) {
    g_alloc(g_alloc_ud, p, 0, 0);
  }
}

char *dp_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = dp_malloc(n);
  if (d != NULL) {
    memcpy(d, s, n);
  }
  return d;
}
