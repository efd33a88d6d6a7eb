// The force stage of a particle step: CPU loops over the kernel bodies of phys_particle_kern.h,
// phys_spring_kern.h and phys_contact_kern.h (the CUDA wrappers in lib/cuda/ call the same
// bodies), and the adjoint loops in reverse.
#include <string.h>

#include "dp/dp.h"
#include "phys_contact_kern.h"
#include "phys_particle_kern.h"
#include "phys_spring_kern.h"

static const double zero3[3] = {0.0, 0.0, 0.0};

static const double *control_at(const dpModel *m, const double *theta, int t) {
  return theta + m->off.controls + (size_t)t * m->nu * 3;
}

void dp_forces(const dpModel *m, const double *theta, int t, const double *x, const double *v,
               double *f) {
  const dpOffsets *o = &m->off;
  const double *g = theta + o->gravity;
  for (int i = 0; i < m->np; i++) {
    particle_force(f + 3 * i, theta[o->mass + i], g, theta + o->force + 3 * i, NULL,
                   theta[o->drag_lin + i], theta[o->drag_quad + i], v + 3 * i);
  }
  if (m->nu > 0) {
    const double *u = control_at(m, theta, t);
    for (int j = 0; j < m->nu; j++) {
      int i = m->uparticle[j];
      f[3 * i] += u[3 * j];
      f[3 * i + 1] += u[3 * j + 1];
      f[3 * i + 2] += u[3 * j + 2];
    }
  }
  const double *k = theta + o->k, *c = theta + o->c, *rest = theta + o->rest;
  for (int s = 0; s < m->ns; s++) {
    int a = m->sa[s], b = m->sb[s];
    double fa[3];
    if (b >= 0) {
      spring_force(fa, x + 3 * a, x + 3 * b, v + 3 * a, v + 3 * b, k[s], c[s], rest[s]);
      f[3 * b] -= fa[0];
      f[3 * b + 1] -= fa[1];
      f[3 * b + 2] -= fa[2];
    } else {
      spring_force(fa, x + 3 * a, theta + o->anchor + 3 * s, v + 3 * a, zero3, k[s], c[s],
                   rest[s]);
    }
    f[3 * a] += fa[0];
    f[3 * a + 1] += fa[1];
    f[3 * a + 2] += fa[2];
  }
  for (int j = 0; j < m->nc; j++) {
    const double *geom = theta + o->cgeom + (size_t)DP_CGEOM * j;
    const double *kc = theta + o->ccontact + (size_t)DP_CCONTACT * j;
    int type = (int)m->ctype[j];
    for (int i = 0; i < m->np; i++) {
      contact_force(f + 3 * i, type, geom, kc, theta[o->radius + i], x + 3 * i, v + 3 * i);
    }
  }
}

void adj_dp_forces(const dpModel *m, const double *theta, int t, const double *x,
                   const double *v, double *theta_bar, double *x_bar, double *v_bar,
                   const double *f_bar) {
  const dpOffsets *o = &m->off;
  for (int j = 0; j < m->nc; j++) {
    const double *geom = theta + o->cgeom + (size_t)DP_CGEOM * j;
    const double *kc = theta + o->ccontact + (size_t)DP_CCONTACT * j;
    double *geom_bar = theta_bar + o->cgeom + (size_t)DP_CGEOM * j;
    double *kc_bar = theta_bar + o->ccontact + (size_t)DP_CCONTACT * j;
    int type = (int)m->ctype[j];
    for (int i = 0; i < m->np; i++) {
      adj_contact_force(type, geom, kc, theta[o->radius + i], x + 3 * i, v + 3 * i,
                        x_bar + 3 * i, v_bar + 3 * i, geom_bar, kc_bar,
                        theta_bar + o->radius + i, f_bar + 3 * i);
    }
  }
  const double *k = theta + o->k, *c = theta + o->c, *rest = theta + o->rest;
  for (int s = 0; s < m->ns; s++) {
    int a = m->sa[s], b = m->sb[s];
    if (b >= 0) {
      double fab[3] = {f_bar[3 * a] - f_bar[3 * b], f_bar[3 * a + 1] - f_bar[3 * b + 1],
                       f_bar[3 * a + 2] - f_bar[3 * b + 2]};
      adj_spring_force(x + 3 * a, x + 3 * b, v + 3 * a, v + 3 * b, k[s], c[s], rest[s],
                       x_bar + 3 * a, x_bar + 3 * b, v_bar + 3 * a, v_bar + 3 * b,
                       theta_bar + o->k + s, theta_bar + o->c + s, theta_bar + o->rest + s, fab);
    } else {
      adj_spring_force(x + 3 * a, theta + o->anchor + 3 * s, v + 3 * a, zero3, k[s], c[s],
                       rest[s], x_bar + 3 * a, theta_bar + o->anchor + 3 * s, v_bar + 3 * a,
                       NULL, theta_bar + o->k + s, theta_bar + o->c + s, theta_bar + o->rest + s,
                       f_bar + 3 * a);
    }
  }
  if (m->nu > 0) {
    double *u_bar = theta_bar + o->controls + (size_t)t * m->nu * 3;
    for (int j = 0; j < m->nu; j++) {
      int i = m->uparticle[j];
      u_bar[3 * j] += f_bar[3 * i];
      u_bar[3 * j + 1] += f_bar[3 * i + 1];
      u_bar[3 * j + 2] += f_bar[3 * i + 2];
    }
  }
  const double *g = theta + o->gravity;
  double *g_bar = theta_bar + o->gravity;
  for (int i = 0; i < m->np; i++) {
    adj_particle_force(theta[o->mass + i], g, theta + o->force + 3 * i, NULL,
                       theta[o->drag_lin + i], theta[o->drag_quad + i], v + 3 * i,
                       theta_bar + o->mass + i, g_bar, theta_bar + o->force + 3 * i, NULL,
                       theta_bar + o->drag_lin + i, theta_bar + o->drag_quad + i, v_bar + 3 * i,
                       f_bar + 3 * i);
  }
}
