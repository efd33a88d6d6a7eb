// Trajectory files: frames of a rollout streamed into an NPZ (time, particles/x, particles/v,
// controls, meta.json) so that memory stays bounded however long the rollout is.
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "dp/dp.h"

struct dpTrajectory {
  const dpModel *m;
  dpNpzWriter *w;
  dpNpzArray *time, *x, *v;
  size_t frames;
};

static const char *integrator_name(dpIntegrator i) {
  switch (i) {
    case DP_EXPLICIT_EULER: return "explicit_euler";
    case DP_SEMI_IMPLICIT_EULER: return "semi_implicit_euler";
    case DP_RK4: return "rk4";
  }
  return "unknown";
}

char *dp_meta_json(const dpModel *m, const char *tool, int stride) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) {
    return NULL;
  }
  char hash[32];
  snprintf(hash, sizeof hash, "%016llx", (unsigned long long)m->scene_hash);
  cJSON_AddNumberToObject(o, "format_version", DP_FORMAT_VERSION);
  cJSON_AddStringToObject(o, "tool", tool);
  cJSON_AddStringToObject(o, "tool_version", DP_VERSION);
  cJSON_AddStringToObject(o, "scene", m->name);
  cJSON_AddStringToObject(o, "scene_file", m->source);
  cJSON_AddStringToObject(o, "scene_hash", hash);
  cJSON_AddNumberToObject(o, "dt", m->dt);
  cJSON_AddNumberToObject(o, "steps", m->steps);
  cJSON_AddNumberToObject(o, "substeps", m->substeps);
  cJSON_AddStringToObject(o, "integrator", integrator_name(m->integrator));
  if (stride > 0) {
    cJSON_AddNumberToObject(o, "stride", stride);
  }
  cJSON *u = cJSON_AddObjectToObject(o, "units");
  if (u != NULL) {
    cJSON_AddStringToObject(u, "time", "s");
    cJSON_AddStringToObject(u, "particles/x", "m");
    cJSON_AddStringToObject(u, "particles/v", "m/s");
    cJSON_AddStringToObject(u, "controls", "N");
  }
  cJSON *names = cJSON_AddArrayToObject(o, "particles");
  for (int i = 0; names != NULL && i < m->np; i++) {
    cJSON_AddItemToArray(names, cJSON_CreateString(m->pname[i]));
  }
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  if (text == NULL) {
    return NULL;
  }
  char *out = dp_strdup(text);
  cJSON_free(text);
  return out;
}

dpStatus dp_traj_open(const char *path, const dpModel *m, const double *theta, const char *tool,
                      int stride, int level, dpTrajectory **out, dpError *err) {
  *out = NULL;
  dpTrajectory *tr = dp_calloc(1, sizeof *tr);
  char *meta = dp_meta_json(m, tool, stride);
  if (tr == NULL || meta == NULL) {
    dp_free(tr);
    dp_free(meta);
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  tr->m = m;
  dpStatus st = dp_npz_open(path, level, &tr->w, err);
  if (st == DP_OK) {
    size_t t_shape[1] = {0};
    size_t p_shape[3] = {0, (size_t)m->np, 3};
    st = dp_npz_begin_f64(tr->w, "time", 1, t_shape, &tr->time, err);
    if (st == DP_OK) {
      st = dp_npz_begin_f64(tr->w, "particles/x", 3, p_shape, &tr->x, err);
    }
    if (st == DP_OK) {
      st = dp_npz_begin_f64(tr->w, "particles/v", 3, p_shape, &tr->v, err);
    }
    if (st == DP_OK && m->nu > 0) {
      size_t u_shape[3] = {(size_t)m->steps, (size_t)m->nu, 3};
      st = dp_npz_add_f64(tr->w, "controls", 3, u_shape, theta + m->off.controls, err);
    }
    if (st == DP_OK) {
      st = dp_npz_add_text(tr->w, "meta.json", meta, err);
    }
  }
  dp_free(meta);
  if (st != DP_OK) {
    dp_traj_abort(tr);
    return st;
  }
  *out = tr;
  return DP_OK;
}

dpStatus dp_traj_frame(void *ud, int t, const double *s, dpError *err) {
  dpTrajectory *tr = ud;
  double time = t * tr->m->dt;
  size_t n3 = 3 * (size_t)tr->m->np;
  dpStatus st = dp_npz_append_f64(tr->time, &time, 1, err);
  if (st == DP_OK) {
    st = dp_npz_append_f64(tr->x, s, 1, err);
  }
  if (st == DP_OK) {
    st = dp_npz_append_f64(tr->v, s + n3, 1, err);
  }
  if (st == DP_OK) {
    tr->frames++;
  }
  return st;
}

size_t dp_traj_frames(const dpTrajectory *tr) {
  return tr->frames;
}

dpStatus dp_traj_commit(dpTrajectory *tr, dpError *err) {
  dpStatus st = dp_npz_commit(tr->w, err);
  tr->w = NULL;
  dp_free(tr);
  return st;
}

void dp_traj_abort(dpTrajectory *tr) {
  if (tr != NULL) {
    dp_npz_abort(tr->w);
    dp_free(tr);
  }
}
