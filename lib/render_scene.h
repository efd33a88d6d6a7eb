// Scene frames with soft bodies and shells: the entry points of render_scene.c that take the
// soft vertices' positions. dp_render_bounds and dp_render_frame (dp.h) are these with no soft
// positions, and leave soft bodies and shells out.
#ifndef DP_RENDER_SCENE_H
#define DP_RENDER_SCENE_H

#include <stddef.h>

#include "dp/dp.h"

// How soft bodies and shells are drawn.
typedef enum dpMeshStyle {
  DP_MESH_STRAIN = 0,  // filled surface triangles coloured by strain, edges over them
  DP_MESH_EDGES,       // the edges of the surface triangles only
} dpMeshStyle;

// Upper end of the fixed strain scale: strains at or above it get the last colour.
#define DP_RENDER_STRAIN_MAX 0.2

// As dp_render_bounds, and also every finite soft vertex of every frame: sx holds nframes ×
// nvert × 3 positions (m), frame f's at sx + 3·nvert·f (a trajectory's softbodies/NAME/x and
// shells/NAME/x side by side in model vertex order); NULL leaves the soft vertices out.
void dp_render_bounds_soft(const dpModel *m, const double *theta, const double *x,
                           const double *bpos, const double *bquat, const double *sx,
                           size_t nframes, double lo[3], double hi[3]);

// As dp_render_frame, and soft bodies and shells at the vertex positions sx (nvert × 3, m; may
// be NULL only when the model has none), drawn after the colliders and before the bodies,
// springs and particles. The surface of a soft body is the boundary of its tetrahedra at the
// rest positions θ soft_rest (dp_mesh_surface); a shell's is its triangles.
//   DP_MESH_STRAIN: each surface triangle is filled with the colour of the strain of the element
//     it belongs to (the tetrahedron under a boundary face; the triangle itself for a shell) and
//     outlined #404040 (1 pixel), in painter's order: far triangles first, by the depth of their
//     centroid along the viewing direction (+y in the x-z view, −z in x-y, −x in y-z). Faces of
//     a soft body that face away from the viewer (outward normal along the viewing direction)
//     are not drawn; both sides of a shell are. Strain is the Frobenius norm of the Green strain,
//     ‖E‖_F = ‖FᵀF − I‖_F / 2, with the deformation gradient F = Ds Dm⁻¹ of the element's edge
//     vectors (3 × 3 for a tetrahedron; 3 × 2 for a triangle, Dm in an orthonormal basis of its
//     rest plane); rigid motions give 0. The colour is the viridis colormap (matplotlib; van der
//     Walt & Smith 2015) at ‖E‖_F / DP_RENDER_STRAIN_MAX clamped to [0, 1], interpolated
//     linearly between its 11 samples at 0, 0.1, …, 1: #440154 #482475 #414487 #355f8d
//     #2a788e #21918c #22a884 #44bf70 #7ad151 #bddf26 #fde725. A non-finite strain is grey
//     #b0b0b0. A legend (a colour bar labelled 0 and 0.2, "strain") sits at the bottom right.
//   DP_MESH_EDGES: the edges of every surface triangle (back faces included), #2f4f6f, 1.5
//     pixels wide; no fill, no legend.
// Pinned vertices are #d62728 squares (as pinned particles, half their size).
// Errors: those of dp_render_frame; DP_ERR_INVALID for sx NULL when the model has soft bodies
// or an unknown style; DP_ERR_INVALID from dp_mesh_surface for a mesh it rejects; DP_ERR_NOMEM.
dpStatus dp_render_frame_soft(const dpModel *m, const double *theta, const double *x,
                              const double *bpos, const double *bquat, const double *sx,
                              dpMeshStyle style, double time, dpView view, const double lo[3],
                              const double hi[3], dpImage *img, dpError *err);

// ‖FᵀF − I‖_F / 2 of a tetrahedron (4 vertex indices into the rest positions X and the current
// positions x, each n × 3) or of a triangle (3 indices); NaN for a degenerate rest element.
double dp_render_tet_strain(const double *X, const double *x, const int *v);
double dp_render_tri_strain(const double *X, const double *x, const int *v);

#endif
