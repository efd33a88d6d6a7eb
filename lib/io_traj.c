// Trajectory files: frames of a rollout streamed into an NPZ (time, particles/x, particles/v,
// controls, and with articulated bodies bodies/q, bodies/qd, bodies/xpos, bodies/xquat and
// actuators/controls; with soft bodies and shells their vertices' x and v, rest positions and
// elements; meta.json) so that memory stays bounded however long the rollout is.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "dp/dp.h"

struct dpTrajectory {
  const dpModel *m;
  const double *theta;   // the caller's θ (joint positions for the body poses)
  dpNpzWriter *w;
  dpNpzArray *time, *x, *v;
  dpNpzArray *q, *qd, *xpos, *xquat;  // with bodies
  double *pose;          // nb × 3 origins, nb × 4 orientations, then dp_body_scratch_size
  dpNpzArray **soft;     // with soft bodies: x and v of soft body i at [2i] and [2i + 1]
  size_t frames;
};

const char *dp_joint_type_name(dpJointType type) {
  switch (type) {
    case DP_JOINT_FIXED: return "fixed";
    case DP_JOINT_REVOLUTE: return "revolute";
    case DP_JOINT_PRISMATIC: return "prismatic";
    case DP_JOINT_BALL: return "ball";
    case DP_JOINT_FREE: return "free";
  }
  return "unknown";
}

static void add_names(cJSON *o, const char *key, dpName *names, int n) {
  cJSON *a = cJSON_AddArrayToObject(o, key);
  for (int i = 0; a != NULL && i < n; i++) {
    cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
  }
}

// The names of the soft bodies (shell = 0) or the shells (shell = 1), in model order.
static void add_soft_names(cJSON *o, const dpModel *m, int shell) {
  cJSON *a = cJSON_AddArrayToObject(o, shell ? "shells" : "softbodies");
  for (int i = 0; a != NULL && i < m->nsoft; i++) {
    if (m->soft_shell[i] == shell) {
      cJSON_AddItemToArray(a, cJSON_CreateString(m->softname[i]));
    }
  }
}

// "softbodies/NAME/what" or "shells/NAME/what" for soft body i (NULL when it does not fit).
static const char *soft_array_name(char *buf, size_t n, const dpModel *m, int i,
                                   const char *what) {
  int len = snprintf(buf, n, "%s/%s/%s", m->soft_shell[i] ? "shells" : "softbodies",
                     m->softname[i], what);
  return len > 0 && (size_t)len < n ? buf : NULL;
}

static void add_ints(cJSON *o, const char *key, const int *v, int n) {
  cJSON *a = cJSON_AddArrayToObject(o, key);
  for (int i = 0; a != NULL && i < n; i++) {
    cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
  }
}

static const char *integrator_name(dpIntegrator i) {
  switch (i) {
    case DP_EXPLICIT_EULER: return "explicit_euler";
    case DP_SEMI_IMPLICIT_EULER: return "semi_implicit_euler";
    case DP_RK4: return "rk4";
    case DP_IMPLICIT_EULER: return "implicit_euler";
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
    if (m->nb > 0) {
      cJSON_AddStringToObject(u, "bodies/q", "rad or m; quaternions 1");
      cJSON_AddStringToObject(u, "bodies/qd", "rad/s or m/s");
      cJSON_AddStringToObject(u, "bodies/xpos", "m");
      cJSON_AddStringToObject(u, "bodies/xquat", "1");
    }
    if (m->na > 0) {
      cJSON_AddStringToObject(u, "actuators/controls", "motor: command (gear·u in N·m or N); "
                                                       "position: rad or m");
    }
    for (int i = 0; i < m->nsoft; i++) {
      char name[DP_PATH_MAX];
      static const char *const what[3][2] = {{"x", "m"}, {"v", "m/s"}, {"rest", "m"}};
      for (int k = 0; k < 3; k++) {
        if (soft_array_name(name, sizeof name, m, i, what[k][0]) != NULL) {
          cJSON_AddStringToObject(u, name, what[k][1]);
        }
      }
    }
  }
  add_names(o, "particles", m->pname, m->np);
  if (m->nb > 0) {
    add_names(o, "bodies", m->bname, m->nb);
    cJSON *j = cJSON_AddArrayToObject(o, "joints");
    for (int i = 0; j != NULL && i < m->nb; i++) {
      cJSON_AddItemToArray(j, cJSON_CreateString(dp_joint_type_name(m->bjoint[i])));
    }
    add_ints(o, "parents", m->bparent, m->nb);
    add_ints(o, "qadr", m->bqadr, m->nb);
    add_ints(o, "vadr", m->bvadr, m->nb);
    add_names(o, "shapes", m->shname, m->nsh);
  }
  if (m->na > 0) {
    add_names(o, "actuators", m->aname, m->na);
  }
  int nshell = 0;
  for (int i = 0; i < m->nsoft; i++) {
    nshell += m->soft_shell[i];
  }
  if (m->nsoft > nshell) {
    add_soft_names(o, m, 0);
  }
  if (nshell > 0) {
    add_soft_names(o, m, 1);
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

// Per soft body: the streamed x and v (F, nv, 3), the rest positions (nv, 3) from θ and the
// elements (ne, 4) or (ne, 3) as int64 vertex indices local to the soft body (0 .. nv − 1).
static dpStatus soft_begin(dpTrajectory *tr, const double *theta, dpError *err) {
  const dpModel *m = tr->m;
  if (m->nsoft == 0) {
    return DP_OK;
  }
  if ((tr->soft = dp_calloc(2 * (size_t)m->nsoft, sizeof *tr->soft)) == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  dpStatus st = DP_OK;
  for (int i = 0; st == DP_OK && i < m->nsoft; i++) {
    char nx[DP_PATH_MAX], nv[DP_PATH_MAX], nr[DP_PATH_MAX], ne[DP_PATH_MAX];
    int shell = m->soft_shell[i], epv = shell ? 3 : 4;
    if (soft_array_name(nx, sizeof nx, m, i, "x") == NULL ||
        soft_array_name(nv, sizeof nv, m, i, "v") == NULL ||
        soft_array_name(nr, sizeof nr, m, i, "rest") == NULL ||
        soft_array_name(ne, sizeof ne, m, i, shell ? "triangles" : "tets") == NULL) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "soft body name '%s' is too long",
                          m->softname[i]);
    }
    size_t n = (size_t)m->soft_nv[i], v3 = 3 * (size_t)m->soft_vadr[i];
    size_t vshape[3] = {0, n, 3}, rshape[2] = {n, 3};
    st = dp_npz_begin_f64(tr->w, nx, 3, vshape, &tr->soft[2 * i], err);
    if (st == DP_OK) {
      st = dp_npz_begin_f64(tr->w, nv, 3, vshape, &tr->soft[2 * i + 1], err);
    }
    if (st == DP_OK) {
      st = dp_npz_add_f64(tr->w, nr, 2, rshape, theta + m->off.soft_rest + v3, err);
    }
    if (st != DP_OK) {
      break;
    }
    size_t nel = (size_t)m->soft_ne[i], len = (size_t)epv * nel;
    const int *src = (shell ? m->tri : m->tet) + (size_t)epv * (size_t)m->soft_eadr[i];
    int64_t *el = dp_malloc((len > 0 ? len : 1) * sizeof *el);
    if (el == NULL) {
      return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    }
    for (size_t k = 0; k < len; k++) {
      el[k] = (int64_t)src[k] - m->soft_vadr[i];
    }
    size_t eshape[2] = {nel, (size_t)epv};
    st = dp_npz_add_i64(tr->w, ne, 2, eshape, el, err);
    dp_free(el);
  }
  return st;
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
  tr->theta = theta;
  if (m->nb > 0) {
    tr->pose = dp_malloc((7 * (size_t)m->nb + dp_body_scratch_size(m)) * sizeof(double));
    if (tr->pose == NULL) {
      dp_free(tr);
      dp_free(meta);
      return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    }
  }
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
    if (st == DP_OK && m->nb > 0) {
      size_t q_shape[2] = {0, (size_t)m->nq}, v_shape[2] = {0, (size_t)m->nv};
      size_t b3[3] = {0, (size_t)m->nb, 3}, b4[3] = {0, (size_t)m->nb, 4};
      st = dp_npz_begin_f64(tr->w, "bodies/q", 2, q_shape, &tr->q, err);
      if (st == DP_OK) {
        st = dp_npz_begin_f64(tr->w, "bodies/qd", 2, v_shape, &tr->qd, err);
      }
      if (st == DP_OK) {
        st = dp_npz_begin_f64(tr->w, "bodies/xpos", 3, b3, &tr->xpos, err);
      }
      if (st == DP_OK) {
        st = dp_npz_begin_f64(tr->w, "bodies/xquat", 3, b4, &tr->xquat, err);
      }
    }
    if (st == DP_OK && m->na > 0) {
      // θ holds actuator a's controls at a·steps + t; the file has them by step: (steps, na).
      size_t T = (size_t)m->steps, na = (size_t)m->na;
      double *u = dp_malloc((T * na > 0 ? T * na : 1) * sizeof(double));
      if (u == NULL) {
        st = dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
      } else {
        for (size_t a = 0; a < na; a++) {
          for (size_t t = 0; t < T; t++) {
            u[t * na + a] = theta[m->off.act_controls + a * T + t];
          }
        }
        size_t a_shape[2] = {T, na};
        st = dp_npz_add_f64(tr->w, "actuators/controls", 2, a_shape, u, err);
        dp_free(u);
      }
    }
    if (st == DP_OK) {
      st = soft_begin(tr, theta, err);
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
  const dpModel *m = tr->m;
  if (st == DP_OK && m->nb > 0) {
    double *xpos = tr->pose, *xquat = tr->pose + 3 * (size_t)m->nb;
    dp_body_poses(m, tr->theta, s, xpos, xquat, tr->pose + 7 * (size_t)m->nb);
    st = dp_npz_append_f64(tr->q, s + dp_model_q_offset(m), 1, err);
    if (st == DP_OK) {
      st = dp_npz_append_f64(tr->qd, s + dp_model_qd_offset(m), 1, err);
    }
    if (st == DP_OK) {
      st = dp_npz_append_f64(tr->xpos, xpos, 1, err);
    }
    if (st == DP_OK) {
      st = dp_npz_append_f64(tr->xquat, xquat, 1, err);
    }
  }
  if (st == DP_OK && m->nsoft > 0) {
    const double *sx = s + dp_model_soft_offset(m), *sv = sx + 3 * (size_t)m->nvert;
    for (int i = 0; st == DP_OK && i < m->nsoft; i++) {
      size_t v3 = 3 * (size_t)m->soft_vadr[i];
      st = dp_npz_append_f64(tr->soft[2 * i], sx + v3, 1, err);
      if (st == DP_OK) {
        st = dp_npz_append_f64(tr->soft[2 * i + 1], sv + v3, 1, err);
      }
    }
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
  dp_free(tr->pose);
  dp_free(tr->soft);
  dp_free(tr);
  return st;
}

void dp_traj_abort(dpTrajectory *tr) {
  if (tr != NULL) {
    dp_npz_abort(tr->w);
    dp_free(tr->pose);
    dp_free(tr->soft);
    dp_free(tr);
  }
}
