// Meshes for soft bodies (linear tetrahedra) and cloth (triangles): generated boxes and grids,
// TetGen, Gmsh MSH and Wavefront OBJ readers, and the checks and derived topology (bending
// hinges, boundary surface) the FEM and cloth models build on.
#ifndef DP_IO_MESH_H
#define DP_IO_MESH_H

#include "dp/dp.h"

// A mesh of linear tetrahedra (a volume) or of triangles (a surface or cloth). Indices count
// from 0. Every array is dp_malloc'ed and owned by the mesh (dp_mesh_free).
typedef struct dpMesh {
  int nv;     // vertices
  double *X;  // nv × 3, m
  int ntet;   // tetrahedra (0 for a surface mesh)
  int *tet;   // ntet × 4 vertex indices, positively oriented: det[X1−X0, X2−X0, X3−X0] > 0
  int ntri;   // triangles (cloth, or a loaded surface); 0 for a loaded or generated tet mesh
  int *tri;   // ntri × 3
  int *line;  // per element (tets if ntet > 0, else triangles): source line in the file, 0 if
              // generated
} dpMesh;

// Free the arrays of m and zero it (m may be NULL; a zeroed mesh is fine).
void dp_mesh_free(dpMesh *m);

// A box of size[0] × size[1] × size[2] m (each > 0, finite) centred at the origin, with res[i]
// ≥ 1 cells along axis i. Vertices lie on the (res0+1) × (res1+1) × (res2+1) lattice; point
// (i, j, k) has index i + (res0+1)·(j + (res1+1)·k) and position
// (−size0/2 + i·size0/res0, −size1/2 + j·size1/res1, −size2/2 + k·size2/res2).
// Each cell is split into 6 tetrahedra along its main diagonal (0,0,0)–(1,1,1) (Kuhn /
// Freudenthal subdivision): one tet per permutation of the axes, walking from the cell's first
// corner to its last one axis step at a time. The split is conforming across cells, every tet
// is positively oriented and has volume (cell volume)/6. Tets are ordered by cell (i fastest,
// then j, then k), 6 per cell. out->line is all zeros; ntri = 0.
// Source: H. W. Kuhn, "Some combinatorial lemmas in topology", IBM J. Res. Dev. 4(5), 1960;
// H. Freudenthal, "Simplizialzerlegungen von beschränkter Flachheit", Ann. Math. 43, 1942.
// Errors: DP_ERR_INVALID for a size ≤ 0 or not finite, res < 1, or more than INT_MAX
// vertices or tets; DP_ERR_NOMEM. On error *out is zeroed.
dpStatus dp_mesh_box_tets(const double size[3], const int res[3], dpMesh *out, dpError *err);

// A size_x × size_y m rectangle (each > 0, finite) in the plane z = 0, centred at the origin,
// with nx × ny cells (each ≥ 1). Vertex (i, j) has index i + (nx+1)·j and position
// (−size_x/2 + i·size_x/nx, −size_y/2 + j·size_y/ny, 0). Each cell gives two triangles,
// counter-clockwise seen from +z (normal +z). The diagonal alternates in a checkerboard, so
// that the mesh has no preferred shear direction: cell (i, j) with corners a = (i, j),
// b = (i+1, j), c = (i+1, j+1), d = (i, j+1) is split along a–c into (a, b, c), (a, c, d) when
// i + j is even, and along b–d into (a, b, d), (b, c, d) when i + j is odd. Triangles are
// ordered by cell (i fastest), 2 per cell. ntet = 0; out->line is all zeros.
// Errors: DP_ERR_INVALID for a bad size or count, or too many vertices; DP_ERR_NOMEM.
dpStatus dp_mesh_grid_tris(double size_x, double size_y, int nx, int ny, dpMesh *out,
                           dpError *err);

// Load a TetGen mesh: `path` names the .node or the .ele file, the other one is its sibling
// with the same base name. Format (TetGen 1.5 user's manual, §5 "File Formats"):
//   .node: "<#points> [<dimension = 3> [<#attributes> [<#boundary markers: 0 or 1>]]]", then
//          one line per point: "<point #> <x> <y> <z> [attributes] [boundary marker]".
//   .ele:  "<#tetrahedra> [<nodes per tet: 4> [<#region attributes>]]", then one line per tet:
//          "<tet #> <n1> <n2> <n3> <n4> [attributes]".
// '#' starts a comment to the end of the line; blank lines are skipped. Point numbers start at
// 0 or 1 (the first point of the .node file decides) and are consecutive; the .ele indices use
// the same numbering. Attributes and markers are read and dropped. 10-node (quadratic) tets are
// an error: only linear tets are supported. The mesh is checked (dp_mesh_check, with the .ele
// file named in messages) and every point must belong to a tetrahedron. out->line holds the
// .ele line of each tet; ntri = 0.
// Errors: DP_ERR_IO naming the file and the OS reason when a file cannot be read;
// DP_ERR_INVALID naming path:line:column and what was wrong ("vertex index 57 out of range
// 1..40", "expected 5 values (tetrahedron number and 4 vertex indices), found 4"); DP_ERR_NOMEM.
// On error *out is zeroed.
dpStatus dp_mesh_load_tetgen(const char *path, dpMesh *out, dpError *err);

// Load a Gmsh MSH file, ASCII version 2.2 (2.0 and 2.1 read the same) or 4.1. Nodes may have
// any tags, in any order: they are numbered in file order. Elements of type 4 (4-node
// tetrahedron) and 2 (3-node triangle) are read; points and lines of any order (types 15, 1,
// 8, 26, 27, 28) are skipped; other volume elements (e.g. 11, the 10-node tetrahedron) are an
// error naming the type; other surface elements are an error when the file has no tetrahedra.
// When the file has tetrahedra they are the mesh and the triangles are dropped; otherwise the
// triangles are. Nodes used by no kept element (geometry points such as circle centres, the
// nodes of skipped lines) are dropped, the others keep their file order. Sections other than
// $MeshFormat, $Nodes and $Elements ($PhysicalNames, $Entities, $NodeData, ...) are skipped.
// The mesh is checked (dp_mesh_check). out->line holds each element's line.
// Source: Gmsh reference manual, "MSH file format" (4.1) and its legacy MSH 2 description.
// Errors: DP_ERR_IO for an unreadable file; DP_ERR_INVALID naming path:line:column
// ("unsupported MSH version 3.0", "binary MSH files are not supported", "element type 11
// (10-node tetrahedron) is not supported", "node tag 57 is not defined in $Nodes");
// DP_ERR_NOMEM. On error *out is zeroed.
dpStatus dp_mesh_load_gmsh(const char *path, dpMesh *out, dpError *err);

// Load a Wavefront OBJ surface: "v x y z [w]" (w and vertex colours "v x y z r g b" are read
// and dropped) and faces "f a b c ..." whose vertex references have the forms a, a/t, a/t/n and
// a//n; a negative index counts back from the last vertex defined so far (−1 is the latest).
// Polygons are split into a triangle fan (a0, ai, ai+1). Texture coordinates, normals, groups,
// objects, smoothing groups, materials, lines, points and the free-form statements are
// ignored; '#' starts a comment; any other statement is an error. Every vertex must belong to
// a face. The mesh is checked (dp_mesh_check). ntet = 0; out->line holds each triangle's face
// line. Source: Wavefront "Object Files (.obj)", Advanced Visualizer manual, appendix B1.
// Errors: DP_ERR_IO; DP_ERR_INVALID naming path:line:column ("vertex index 57 out of range
// 1..40"); DP_ERR_NOMEM. On error *out is zeroed.
dpStatus dp_mesh_load_obj(const char *path, dpMesh *out, dpError *err);

// Load a mesh by the extension of path (case-insensitive): .node or .ele → TetGen, .msh →
// Gmsh, .obj → OBJ. Errors: those of the loader, or DP_ERR_INVALID naming the path and the
// known extensions for any other name.
dpStatus dp_mesh_load(const char *path, dpMesh *out, dpError *err);

// Check a mesh before it is simulated: every index in 0..nv−1, no vertex repeated within an
// element, coordinates finite, every tetrahedron's signed volume det[X1−X0, X2−X0, X3−X0]/6
// above 1e−12·d³ (d: diagonal of the bounding box), every triangle's area above 1e−12·d², and
// every vertex used by some element (tets when ntet > 0, else triangles), since an unused
// vertex would have no mass. path names the file that m->line refers to (for TetGen, the .ele
// file), or is NULL for a generated mesh ("generated mesh: ..." in messages).
// Errors: DP_ERR_INVALID with file = path and line = m->line of the element, e.g.
// "tetrahedron 3 is inverted (signed volume -4.2e-05 m^3)", "tetrahedron 5 is degenerate
// (signed volume 1e-20 m^3)", "triangle 2 has zero area", "vertex 7 is used by no
// tetrahedron (it would have no mass)". Element and vertex numbers count from 0.
dpStatus dp_mesh_check(const dpMesh *m, const char *path, dpError *err);

// Bending hinges of a triangle mesh: one per interior edge, shared by exactly two triangles.
// Hinge h (row h of *hinge, nhinge × 4) is (v0, v1, v2, v3): v0 → v1 is the shared edge in the
// counter-clockwise order of the first (lower-numbered) triangle, v2 that triangle's third
// vertex, v3 the other triangle's third vertex. Hinges are sorted by the edge's (smaller,
// larger) vertex index. *hinge is dp_malloc'ed (the caller frees it with dp_free); NULL when
// there is no hinge. path names the file of m->line, or NULL for a generated mesh.
// Source: Bridson, Marino & Fedkiw, "Simulation of clothing with folds and wrinkles", SCA 2003
// (the hinge stencil); Grinspun et al., "Discrete shells", SCA 2003.
// Errors: DP_ERR_INVALID when m has no triangles, an index is out of range, an edge is shared
// by three or more triangles (non-manifold) or two triangles traverse their shared edge in the
// same direction (inconsistent orientation); the message names the edge's vertices, the file
// and line are those of the offending triangle. DP_ERR_NOMEM. On error *hinge = NULL,
// *nhinge = 0.
dpStatus dp_mesh_hinges(const dpMesh *m, const char *path, int **hinge, int *nhinge,
                        dpError *err);

// Boundary of a mesh as triangles (*ntri × 3, dp_malloc'ed, the caller frees with dp_free).
// For a tet mesh: the faces that belong to exactly one tet, oriented outward (the normal
// (b−a)×(c−a) points away from the tet's fourth vertex), each rotated to start at its
// smallest vertex index and sorted by their sorted vertex triples. For a triangle mesh (ntet
// = 0): a copy of the triangles.
// Errors: DP_ERR_INVALID for an empty mesh, an index out of range or a face shared by three
// or more tets; DP_ERR_NOMEM. On error *tri = NULL, *ntri = 0.
dpStatus dp_mesh_surface(const dpMesh *m, int **tri, int *ntri, dpError *err);

#endif
