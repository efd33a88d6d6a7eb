// dp — differentiable physics engine: the single public header.
//
// Sections: status and errors · model and parameter block · data and step · losses · rollout
// and gradients · files (NPZ) · CUDA backend. Units are SI (m, kg, s, N); z is up.
// The computation and the differentiation contract are described in DESIGN.md §1–2: every
// forward operator `op` has an adjoint `adj_op` that accumulates (+=) the adjoints of its inputs.
#ifndef DP_DP_H
#define DP_DP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DP_VERSION "0.1.0"
#define DP_FORMAT_VERSION 1

// ============================================================================================
// Status and errors
// ============================================================================================

typedef enum dpStatus {
  DP_OK = 0,
  DP_ERR_INVALID,   // bad input: scene, loss, option, array shape (tools exit 2)
  DP_ERR_IO,        // a file could not be read or written (tools exit 1, or 2 for missing input)
  DP_ERR_NOMEM,     // an allocation failed
  DP_ERR_DIVERGED,  // a state became non-finite or exceeded the divergence limit (exit 1)
  DP_ERR_NO_CUDA,   // built without nvcc, or no CUDA device present
  DP_ERR_CUDA,      // a CUDA call failed
} dpStatus;

// The first failure of a library call. file/line/column are 0/empty where not applicable;
// key names the offending scene or loss key when there is one.
typedef struct dpError {
  dpStatus code;
  char message[512];
  char file[256];
  int line;    // 1-based, 0 when unknown
  int column;  // 1-based, 0 when unknown
  char key[128];
} dpError;

// Fill err (if non-NULL and not already holding an error) and return code.
// file may be NULL; line/column 0 when unknown. The message is printf-formatted.
dpStatus dp_error_set(dpError *err, dpStatus code, const char *file, int line, int column,
                      const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
// Reset err to "no error".
void dp_error_clear(dpError *err);
// Short name of a status code ("ok", "invalid input", ...).
const char *dp_status_string(dpStatus code);

// Allocator hook (Lua style): every allocation of the library goes through it, so a test can
// make the Nth allocation fail. NULL restores malloc/realloc/free. Not thread-safe to change.
typedef void *(*dpAllocFn)(void *ud, void *ptr, size_t oldsize, size_t newsize);
void dp_set_allocator(dpAllocFn fn, void *ud);
void *dp_malloc(size_t n);
void *dp_calloc(size_t count, size_t size);
void *dp_realloc(void *p, size_t oldsize, size_t newsize);
void dp_free(void *p);
char *dp_strdup(const char *s);

// ============================================================================================
// Model and parameter block
// ============================================================================================

#define DP_NAME_MAX 64
#define DP_PATH_MAX 160
typedef char dpName[DP_NAME_MAX];

typedef enum dpIntegrator {
  DP_EXPLICIT_EULER = 0,    // x' = x + h v,  v' = v + h a(x, v)
  DP_SEMI_IMPLICIT_EULER,   // v' = v + h a(x, v),  x' = x + h v'   (symplectic Euler)
  DP_RK4,                   // classical fourth-order Runge–Kutta on (x, v)
  DP_IMPLICIT_EULER,        // backward Euler for soft bodies and shells (Newton + PCG); the
                            // particles and bodies of such a scene step by semi-implicit Euler
} dpIntegrator;

typedef enum dpColliderType {
  DP_COLLIDER_GROUND = 0,  // half-space z <= height
  DP_COLLIDER_BOX,         // axis-aligned box: center, half extents
  DP_COLLIDER_SPHERE,      // center, radius
} dpColliderType;

// Per-collider geometry stride in θ and the meaning of each slot:
//   ground: [height]; box: [cx, cy, cz, hx, hy, hz]; sphere: [cx, cy, cz, r]   (m)
#define DP_CGEOM 6
// Per-collider contact parameters in θ, in this order:
//   stiffness k (N/m), damping c (N·s/m), friction coefficient μ (1),
//   smoothing width w of the penetration softplus (m), friction smoothing ε (m/s),
//   friction damping kf (N·s/m, >= 0; default INFINITY),
//   damping smoothing δ (m/s, > 0; default INFINITY: the damping acts both ways).
// Damping: the normal force is k s − c σ(z) d(v_n). With δ = INFINITY, d(v_n) = v_n: the
// dashpot resists approach and separation alike, so it pulls a separating particle back (a
// sticky force near the surface). With a finite δ it acts on approach (compression) only, the
// law of Warp's particle contacts (kd min(v_n, 0)), smoothed:
//   d(v_n) = (v_n − sqrt(v_n² + δ²)) / 2,
// which tends to min(v_n, 0) as δ → 0, is never positive (the damping never pulls), and is
// C^∞ at v_n = 0. Scene key `damping_mode: approach` (with `damping_smoothing`).
// Friction is f_t = a v_t with P = μ k s (s the smoothed penetration) and Q = |v_t|² + ε²:
// kf = INFINITY gives pure smoothed Coulomb, a = −P / sqrt(Q), whose slope at v_t = 0 is P / ε;
// a finite kf caps it by a viscous friction of coefficient kf, a = −kf P / sqrt(kf² Q + P²), a
// smooth min(kf |v_t|, P) with slope at most kf. A hard impact makes P / ε large, and explicit or
// semi-implicit Euler (step h, mass m) is unstable on the tangential dynamics, its adjoint
// exploding, unless h P / (ε m) < 2; with a finite kf, h kf / m < 2 suffices whatever P.
// kf = 0: no friction. Source of the cap: Warp, warp/sim/integrator_euler.py,
// eval_particle_contacts, friction min(kf |v_t|, μ fn).
#define DP_CCONTACT 7
enum {
  DP_C_STIFFNESS = 0,
  DP_C_DAMPING,
  DP_C_FRICTION,
  DP_C_SMOOTHING,
  DP_C_FRICTION_SMOOTHING,
  DP_C_FRICTION_DAMPING,
  DP_C_DAMPING_SMOOTHING
};

// Definitions used to build a model (Box2D style: start from dp_default_*_def and override).
typedef struct dpParticleDef {
  double mass;              // kg, > 0
  double position[3];       // initial position, m
  double velocity[3];       // initial velocity, m/s
  double linear_drag;       // N·s/m: force -b1 v
  double quadratic_drag;    // N·s²/m²: force -b2 |v| v
  double force[3];          // constant external force, N
  double radius;            // contact radius, m (>= 0): contact starts at distance radius from
                            // a collider's surface; 0 (default) is a point
  int pinned;               // 1: position fixed at its initial value, velocity zero
} dpParticleDef;

typedef struct dpSpringDef {
  int a;                    // particle index
  int b;                    // particle index, or -1 for a spring to the fixed anchor point
  double anchor[3];         // anchor point (m), used when b < 0
  double stiffness;         // N/m, >= 0
  double damping;           // N·s/m, >= 0 (along the spring)
  double rest_length;       // m, >= 0; negative: the initial distance
} dpSpringDef;

typedef struct dpColliderDef {
  dpColliderType type;
  double height;            // ground: z of the plane, m
  double center[3];         // box, sphere: m
  double half_extents[3];   // box: m, > 0
  double radius;            // sphere: m, > 0
  double stiffness;         // N/m
  double damping;           // N·s/m
  double friction;          // Coulomb coefficient μ
  double smoothing;         // m, > 0
  double friction_smoothing;  // m/s, > 0
  double friction_damping;  // N·s/m, >= 0; INFINITY: pure smoothed Coulomb
  double damping_smoothing; // m/s, > 0: damping on approach only, smoothed over this speed;
                            // INFINITY (default): damping both ways
} dpColliderDef;

dpParticleDef dp_default_particle_def(void);
dpSpringDef dp_default_spring_def(void);
dpColliderDef dp_default_collider_def(dpColliderType type);

// ---- Articulated rigid bodies ---------------------------------------------------------------
// Bodies form a kinematic tree in generalized coordinates (lib/rb_tree.h has the conventions and
// the algorithms): each body has one joint to its parent (an earlier body, or the world), whose
// frame sits at joint_pos in the parent frame with the parent's axes at q = 0.
typedef enum dpJointType {
  DP_JOINT_FIXED = 0,  // welded: no coordinates
  DP_JOINT_REVOLUTE,   // hinge about axis: q angle (rad), qd (rad/s)
  DP_JOINT_PRISMATIC,  // slide along axis: q (m), qd (m/s)
  DP_JOINT_BALL,       // q unit quaternion (w, x, y, z); qd angular velocity (3) in the body frame
  DP_JOINT_FREE,       // q position (3) then quaternion (4); qd linear velocity of the origin in
                       // the parent frame (3) then angular velocity in the body frame (3)
} dpJointType;

// Number of coordinates q and velocities qd of a joint type (0..7 and 0..6).
int dp_joint_nq(dpJointType type);
int dp_joint_nv(dpJointType type);

typedef struct dpBodyDef {
  int parent;               // body index < this body's, or -1 for the world
  dpJointType joint;
  double joint_pos[3];      // m, joint frame origin in the parent frame (link geometry)
  double axis[3];           // revolute / prismatic axis in the parent frame (normalized)
  double mass;              // kg, > 0 (unless mass_from_shapes)
  double com[3];            // m, centre of mass in the body frame
  double inertia[6];        // kg·m² about the centre of mass, body axes: Ixx Iyy Izz Ixy Ixz Iyz
  int mass_from_shapes;     // 1: mass, com and inertia computed at finalize from the body's
                            // shapes and their densities (parallel-axis theorem); 2: com and
                            // inertia from the shapes, the inertia scaled to the given mass
  double damping;           // joint damping per dof, N·m·s/rad or N·s/m, >= 0
  double armature;          // added joint-space inertia per dof, kg·m² or kg, >= 0
  double q0[7];             // initial coordinates (dp_joint_nq of them; quaternions normalized)
  double qd0[6];            // initial velocities (dp_joint_nv of them)
  int limited;              // 1: soft limits on a revolute or prismatic joint
  double range[2];          // limits [lower, upper] (rad or m), lower < upper
  double limit_stiffness;   // N·m/rad or N/m, >= 0
  double limit_damping;     // N·m·s/rad or N·s/m, >= 0
  double limit_smoothing;   // m or rad, > 0: softplus width of the limit penetration
} dpBodyDef;

typedef enum dpShapeType {
  DP_SHAPE_SPHERE = 0,  // size[0] radius
  DP_SHAPE_CAPSULE,     // size[0] radius, size[1] half-length of the segment along the local z
  DP_SHAPE_BOX,         // size[0..2] half extents along the local axes
} dpShapeType;

typedef struct dpShapeDef {
  int body;                 // body index
  dpShapeType type;
  double pos[3];            // m, shape centre in the body frame
  double quat[4];           // orientation in the body frame (w, x, y, z), normalized
  double size[3];           // m, see dpShapeType
  double density;           // kg/m³ (>= 0), for mass_from_shapes
  int contact;              // 1: the shape collides; 0: visual / inertial only
} dpShapeDef;

typedef enum dpActuatorType {
  DP_ACTUATOR_MOTOR = 0,    // τ = gear · clamp(u): u a torque or force command
  DP_ACTUATOR_POSITION,     // τ = kp (clamp(u) − q) − kv qd: a PD servo to the target u
} dpActuatorType;

typedef struct dpActuatorDef {
  int body;                 // the body whose joint it drives (revolute or prismatic)
  dpActuatorType type;
  double gear;              // motor: N·m or N per unit of control
  double kp;                // position: N·m/rad or N/m, >= 0
  double kv;                // position: N·m·s/rad or N·s/m, >= 0
  int ctrl_limited;         // 1: the control is clamped smoothly to ctrl_range
  double ctrl_range[2];     // [lower, upper], lower < upper
  double ctrl_smoothing;    // > 0: softplus width of the clamp (units of the control)
} dpActuatorDef;

dpBodyDef dp_default_body_def(void);
dpShapeDef dp_default_shape_def(dpShapeType type);
dpActuatorDef dp_default_actuator_def(dpActuatorType type);

// ============================================================================================
// Soft bodies (tetrahedral FEM) and shells (cloth: triangle membranes with bending)
// ============================================================================================

// Constitutive models of a soft body's tetrahedra (E, ν give the Lamé parameters
// μ = E / (2(1+ν)), λ = Eν / ((1+ν)(1−2ν))). Shells use the St. Venant–Kirchhoff membrane.
typedef enum dpMaterial {
  DP_MATERIAL_LINEAR = 0,   // small-strain linear elasticity (not rotation invariant)
  DP_MATERIAL_COROTATED,    // corotated linear: μ‖F − R‖² + λ/2 tr(S − I)², F = R S
  DP_MATERIAL_STVK,         // St. Venant–Kirchhoff: μ E:E + λ/2 tr(E)², E = (FᵀF − I)/2
  DP_MATERIAL_NEOHOOKEAN    // stable neo-Hookean (Smith, de Goes & Kim 2018); inversion-safe
} dpMaterial;

// A soft body (shell = 0: linear tetrahedra) or a shell (shell = 1: linear triangles, a
// St. Venant–Kirchhoff membrane with discrete-shell bending and aerodynamic lift and drag).
// Arrays are copied by dp_model_add_soft. The lumped mass of a vertex is density × the volume
// (area for a shell) of its elements / 4 (/ 3). Every vertex collides with the scene's colliders
// (ground, boxes, spheres) through the particle contact law with the collider's constants.
typedef struct dpSoftDef {
  int shell;                  // 0: tetrahedral solid, 1: triangle shell (cloth)
  dpMaterial material;        // solids; shells ignore it (St. Venant–Kirchhoff membrane)
  int nv;                     // vertices
  const double *rest;         // nv × 3 rest positions, m (placed in the world)
  const double *position;     // nv × 3 initial positions, m; NULL: the rest positions
  double velocity[3];         // initial velocity of every free vertex, m/s
  int nelem;                  // tetrahedra (nelem × 4) or triangles (nelem × 3)
  const int *elem;            // vertex indices 0 .. nv−1, tetrahedra positively oriented
  int nhinge;                 // shells: hinges (nhinge × 4: shared edge v0 v1, opposite v2 v3)
  const int *hinge;
  double youngs_modulus;      // E, Pa (> 0)
  double poisson_ratio;       // ν in [0, 0.5) (solids), [0, 1) (shells)
  int per_element;            // 1: E and ν are per element in θ; 0: one each per soft body
  double density;             // kg/m³ (solid) or kg/m² (shell), > 0
  double thickness;           // shell thickness, m: membrane Lamé parameters t·E/(2(1+ν)) and
                              // t·Eν/(1−ν²) (plane stress)
  double mass_damping;        // Rayleigh α, 1/s: force −α m v on every vertex
  double stiffness_damping;   // Rayleigh β, s: viscous stress β F(2μ Ė + λ tr(Ė) I) on the
                              // Green strain rate Ė (= β K v at rest; zero for rigid motion)
  double bending_stiffness;   // shells: kb, N·m (discrete shells, Grinspun et al. 2003)
  double lift, drag;          // shells: aerodynamic coefficients C_L, C_D (dimensionless)
  double air_density;         // shells: kg/m³
  double wind[3];             // shells: air velocity, m/s
  double radius;              // contact radius of the vertices, m (>= 0)
  int npin;                   // pinned vertices: their velocity is a control, not dynamics
  const int *pin;             // npin vertex indices
  const double *pin_velocity; // steps × npin × 3 initial controls (m/s), or NULL: zero (fixed)
} dpSoftDef;

dpSoftDef dp_default_soft_def(int shell);

// One named entry of the parameter block θ: a scene value that gradients are computed for.
// path: "gravity", "particles.ball.mass", "springs.s3.stiffness", "ground.friction",
// "boxes.wall.center", "controls", ... Values θ[offset .. offset+len) with the given shape.
typedef struct dpParam {
  char path[DP_PATH_MAX];
  size_t offset;
  size_t len;
  int ndim;          // 0 (scalar), 1 or 3
  size_t shape[3];
  double lower;      // admissible range of each component (for loaders and optimizers)
  double upper;
} dpParam;

// Offsets of each quantity in θ (structure of arrays).
typedef struct dpOffsets {
  size_t gravity;     // 3
  size_t mass;        // np
  size_t x0;          // np × 3  initial positions
  size_t v0;          // np × 3  initial velocities
  size_t drag_lin;    // np
  size_t drag_quad;   // np
  size_t force;       // np × 3
  size_t radius;      // np   contact radius, m
  size_t k;           // ns   spring stiffness
  size_t c;           // ns   spring damping
  size_t rest;        // ns   spring rest length
  size_t anchor;      // ns × 3 (meaningful for anchored springs only)
  size_t cgeom;       // nc × DP_CGEOM
  size_t ccontact;    // nc × DP_CCONTACT
  size_t controls;    // steps × nu × 3 control forces, N
  // articulated bodies (nb bodies, nq / nv coordinates, nsh shapes, na actuators)
  size_t body_mass;       // nb, kg
  size_t body_com;        // nb × 3, m
  size_t body_inertia;    // nb × 6, kg·m²
  size_t joint_pos;       // nb × 3, m
  size_t joint_damping;   // nv
  size_t armature;        // nv
  size_t q0;              // nq   initial coordinates
  size_t qd0;             // nv   initial velocities
  size_t limit_range;     // nb × 2
  size_t limit_stiffness; // nb
  size_t limit_damping;   // nb
  size_t limit_smoothing; // nb
  size_t shape_pos;       // nsh × 3, m (body frame)
  size_t shape_size;      // nsh × 3, m
  size_t gear;            // na
  size_t kp;              // na
  size_t kv;              // na
  size_t act_controls;    // na × steps: actuator a's control at step t at a·steps + t
  size_t body_contact;    // DP_CCONTACT: contact constants between two bodies' shapes
  // soft bodies and shells (nvert vertices, nmat material entries, nsoft soft bodies)
  size_t soft_rest;       // nvert × 3 rest positions, m
  size_t soft_x0;         // nvert × 3 initial positions, m
  size_t soft_v0;         // nvert × 3 initial velocities, m/s
  size_t soft_E;          // nmat Young's moduli, Pa
  size_t soft_nu;         // nmat Poisson ratios
  size_t soft_density;    // nsoft, kg/m³ or kg/m²
  size_t soft_thickness;  // nsoft, m (shells)
  size_t soft_alpha;      // nsoft Rayleigh mass damping, 1/s
  size_t soft_beta;       // nsoft Rayleigh stiffness damping, s
  size_t soft_bend;       // nsoft bending stiffness, N·m (shells)
  size_t soft_lift;       // nsoft lift coefficient (shells)
  size_t soft_drag;       // nsoft drag coefficient (shells)
  size_t soft_air;        // nsoft air density, kg/m³ (shells)
  size_t soft_wind;       // nsoft × 3 wind, m/s (shells)
  size_t soft_radius;     // nsoft contact radius, m
  size_t pin_controls;    // steps × npin × 3 velocities of the pinned vertices, m/s
} dpOffsets;

// An entry of the scene's `parameters:` list (what dp-optimize optimizes by default).
typedef struct dpParamSpec {
  char path[DP_PATH_MAX];
  double lower, upper;  // -inf/+inf when absent
  int log_scale;        // 1: optimize log(value) (positive quantities)
} dpParamSpec;

// The compiled model: read-only while simulating.
typedef struct dpModel {
  char name[DP_NAME_MAX];
  char source[256];        // scene file path ("" when built in code)
  uint64_t scene_hash;     // FNV-1a of the scene text after --set overrides (0 in code)
  double dt;               // s, > 0
  int steps;               // T
  int substeps;            // integrator substeps per step (h = dt / substeps)
  dpIntegrator integrator;
  double divergence_limit; // |x| or |v| component above this stops a run (default 1e8)

  int np;                  // particles
  dpName *pname;
  unsigned char *pinned;   // np
  int ns;                  // springs
  dpName *sname;
  int *sa, *sb;            // ns; sb[i] < 0: anchored
  int nc;                  // colliders
  dpName *cname;
  dpColliderType *ctype;   // nc
  int nu;                  // controlled particles (0: no controls)
  int *uparticle;          // nu particle indices

  int nb;                  // articulated bodies (0: none)
  dpName *bname;
  int *bparent;            // nb: parent body or -1
  dpJointType *bjoint;     // nb
  int *bqadr, *bvadr;      // nb: offsets of each body's block in q and qd
  unsigned char *blimited; // nb
  int nq, nv;              // sizes of q and qd
  int nsh;                 // shapes of bodies
  dpName *shname;
  dpShapeType *shtype;     // nsh
  int *shbody;             // nsh
  double *shquat;          // nsh × 4 orientation in the body frame (not a parameter)
  unsigned char *shcontact;// nsh
  int na;                  // actuators
  dpName *aname;
  dpActuatorType *atype;   // na
  int *abody;              // na: driven body (its joint's single dof)
  unsigned char *alimited; // na
  double *arange;          // na × 3: ctrl_range lower, upper, smoothing
  int npair;               // contact pairs: shape–shape (different bodies, not parent and
  int *pair;               // child) and shape–collider; pair k = (pair[2k], pair[2k+1]),
                           // the second < 0 for collider −1 − c (then the collider is shape A)
  void *rb_;               // the compiled tree (lib/rb_tree.h), internal

  int nsoft;               // soft bodies and shells (0: none)
  dpName *softname;
  unsigned char *soft_shell;   // nsoft: 1 for a shell
  dpMaterial *soft_material;   // nsoft
  unsigned char *soft_perelem; // nsoft: E and ν per element
  int *soft_vadr, *soft_nv;    // nsoft: range in the soft vertices
  int *soft_eadr, *soft_ne;    // nsoft: range in tet (solids) or tri (shells)
  int *soft_hadr, *soft_nh;    // nsoft: range in hinge
  int *soft_padr, *soft_npin;  // nsoft: range in pin
  int *soft_madr;              // nsoft: first material entry (1 or soft_ne entries)
  int nvert;                   // soft vertices of all soft bodies
  int *vsoft;                  // nvert: owner
  unsigned char *vpinned;      // nvert
  int ntet;
  int *tet;                    // ntet × 4 vertex indices (into the soft vertices)
  int ntri;
  int *tri;                    // ntri × 3
  int nhinge;
  int *hinge;                  // nhinge × 4: shared edge v0 v1, opposite vertices v2 v3
  int npin;
  int *pin;                    // npin vertex indices
  int nmat;                    // material entries (E, ν)
  double newton_tol;       // implicit Euler: ‖g‖₂ of the Newton residual, relative (1e-9)
  int newton_max_iter;     // (20)
  double cg_tol;           // PCG relative residual (1e-10)
  int cg_max_iter;         // (1000)

  size_t ntheta;           // size of θ
  double *theta0;          // θ as given by the scene, ntheta
  dpOffsets off;
  size_t nparam;           // named entries
  dpParam *param;

  size_t nspec;            // scene `parameters:` list
  dpParamSpec *spec;

  void *build_;            // builder state before finalize (internal)
} dpModel;

// Start a model: dt 1e-3, 100 steps, 1 substep, semi-implicit Euler, gravity (0, 0, -9.81).
dpModel *dp_model_new(void);
// Add a particle / spring / collider; names must be unique within their kind and must not
// contain '.', '*' or whitespace. Return the new index, or -1 with err filled.
int dp_model_add_particle(dpModel *m, const char *name, const dpParticleDef *def, dpError *err);
int dp_model_add_spring(dpModel *m, const char *name, const dpSpringDef *def, dpError *err);
int dp_model_add_collider(dpModel *m, const char *name, const dpColliderDef *def,
                          dpError *err);
// Gravity vector (m/s²) before finalize.
void dp_model_set_gravity(dpModel *m, const double g[3]);
// Declare open-loop controls on nu particles (indices), with initial values (steps × nu × 3,
// N) or NULL for zeros. Must be called after m->steps is final.
dpStatus dp_model_set_controls(dpModel *m, int nu, const int *particles, const double *values,
                               dpError *err);
// Add an entry of the `parameters:` list.
dpStatus dp_model_add_spec(dpModel *m, const dpParamSpec *spec, dpError *err);
// Lay out θ and the named entries; validate (masses > 0, indices in range, ...).
dpStatus dp_model_finalize(dpModel *m, dpError *err);
void dp_model_free(dpModel *m);
// Size of the packed state of one environment:
// [x (np × 3) | v (np × 3) | q (nq) | qd (nv) | soft x (nvert × 3) | soft v (nvert × 3)].
size_t dp_model_nstate(const dpModel *m);
int dp_model_find_particle(const dpModel *m, const char *name);

// Add an articulated body / a shape on a body / an actuator (names unique within their kind,
// as for particles). The parent of a body and the body of a shape or actuator must already
// exist. Return the new index, or -1 with err filled. Validation (masses, inertia positive
// definite, joint types an actuator or limit can act on, ranges) happens at finalize, naming the
// entity.
int dp_model_add_body(dpModel *m, const char *name, const dpBodyDef *def, dpError *err);
int dp_model_add_shape(dpModel *m, const char *name, const dpShapeDef *def, dpError *err);
int dp_model_add_actuator(dpModel *m, const char *name, const dpActuatorDef *def,
                          dpError *err);
// Contact constants (DP_CCONTACT, as for colliders) between shapes of two bodies; contacts of a
// body's shape with a collider (ground, boxes, spheres) use the collider's constants.
void dp_model_set_body_contact(dpModel *m, const dpColliderDef *constants);
// Initial controls of actuator a (steps values) before finalize; NULL: zeros.
dpStatus dp_model_set_actuator_controls(dpModel *m, int a, const double *values, dpError *err);
int dp_model_find_body(const dpModel *m, const char *name);
int dp_model_find_shape(const dpModel *m, const char *name);
int dp_model_find_actuator(const dpModel *m, const char *name);
// Offset of the body coordinates q in the packed state (6 np), and of the velocities qd
// (6 np + nq).
size_t dp_model_q_offset(const dpModel *m);
size_t dp_model_qd_offset(const dpModel *m);

// Add a soft body or shell (names unique across both kinds). Element orientation, degenerate
// elements, index ranges and material ranges are checked at finalize, naming the soft body.
// Returns the new index, or -1 with err filled.
int dp_model_add_soft(dpModel *m, const char *name, const dpSoftDef *def, dpError *err);
int dp_model_find_soft(const dpModel *m, const char *name);
// Offset of the soft vertices' positions in the packed state (6 np + nq + nv); their velocities
// follow (nvert × 3 each).
size_t dp_model_soft_offset(const dpModel *m);

// Scratch (doubles) that dp_body_poses and adj_dp_body_positions need: callers allocate it
// once (e.g. when binding a loss), so that nothing is allocated per step.
size_t dp_body_scratch_size(const dpModel *m);
// World poses of every body from the state s (dp_model_nstate): xpos (nb × 3, m) of each body
// origin and xquat (nb × 4, w x y z, sign chosen with w >= 0) of its orientation; either may be
// NULL. theta: the parameter block (joint positions). Source: forward kinematics, Featherstone
// (2008), §4.1; rotation matrix to quaternion by Shepperd's method (J. Guidance Control 1, 1978).
void dp_body_poses(const dpModel *m, const double *theta, const double *s, double *xpos,
                   double *xquat, double *scratch);
// Adjoint of the positions of dp_body_poses: from xpos_bar (nb × 3) accumulates s_bar (nstate;
// its q block as gradients with respect to the components of q, tangent to each quaternion) and
// theta_bar (joint positions).
void adj_dp_body_positions(const dpModel *m, const double *theta, const double *s,
                           double *theta_bar, double *s_bar, const double *xpos_bar,
                           double *scratch);

// Parameter selection: every entry whose path matches pattern (fnmatch; '*' within one path
// component, e.g. "springs.*.stiffness", "particles.ball.*"). The θ indices are listed in table
// order. shape: the entry's shape for a single match; (count, entry shape) for several entries
// of one shape; (total) otherwise.
typedef struct dpSelection {
  char pattern[DP_PATH_MAX];
  size_t n;          // number of θ components
  size_t *index;     // n θ indices
  int ndim;
  size_t shape[4];
} dpSelection;
// Returns DP_ERR_INVALID (with a suggestion) when nothing matches.
dpStatus dp_param_select(const dpModel *m, const char *pattern, dpSelection *sel, dpError *err);
void dp_selection_free(dpSelection *sel);
// The entry containing θ index i (NULL if none) and the component within it.
const dpParam *dp_param_at(const dpModel *m, size_t i, size_t *component);
// Nearest known path to `path` by edit distance (for "did you mean"), or NULL.
const char *dp_param_suggest(const dpModel *m, const char *path);

// ============================================================================================
// Scenes (YAML)
// ============================================================================================

// Load a YAML scene (described by schemas/scene.schema.json and dp-scene(5)) and compile it;
// the scene's `overrides:` mapping (parameter path → value) is then applied to θ in order.
// sets: nsets "path=value" overrides (--set), applied to the document before compiling
// (e.g. "cloth.sheet.n=32", "particles.ball.mass=2"); a path that names no document value is
// applied to the matching θ entries after compiling and after `overrides:` (generated
// entities, e.g. "springs.*.stiffness=100"). Errors are DP_ERR_INVALID naming file:line:column and the key
// with the nearest valid key, or DP_ERR_IO for an unreadable file.
dpStatus dp_scene_load(const char *path, const char *const *sets, int nsets, dpModel **out,
                       dpError *err);
// Same from text in memory; `name` stands for the file in messages.
dpStatus dp_scene_parse(const char *text, size_t len, const char *name, const char *const *sets,
                        int nsets, dpModel **out, dpError *err);

// ============================================================================================
// Data and step
// ============================================================================================

// Scratch for stepping B independent environments of one model; one allocation, sized from the
// model; nothing is allocated during a step.
typedef struct dpData {
  int nbatch;
  size_t nstate;
  double *f;          // forces, np × 3
  double *fbar;       // force adjoint, np × 3
  double *sub;        // substep states, (substeps + 1) × nstate
  double *subbar;     // substep adjoints, 2 × nstate
  double *stage;      // RK4 stage states and forces, 4 × 3 × np × 3
  double *work;       // adjoint work, 4 × np × 3
  double *rb;         // articulated-body scratch (steps, contact, adjoints)
  double *fem;        // soft-body scratch (element rest data, Newton and CG vectors, adjoints)
  long newton_iters;  // implicit Euler: Newton iterations, CG iterations and solves that
  long cg_iters;      // stopped at the iteration limit, counted since dp_data_new
  long unconverged;
  void *block_;       // the allocation
} dpData;

dpData *dp_data_new(const dpModel *m, int nbatch);
void dp_data_free(dpData *d);

// Initial state from θ: s0 = [x0 | v0].
void dp_initial_state(const dpModel *m, const double *theta, double *s0);
// Adjoint: theta_bar[x0, v0] += s0_bar.
void adj_dp_initial_state(const dpModel *m, const double *theta, double *theta_bar,
                          const double *s0_bar);

// Total force on every particle (np × 3, N) at state (x, v) during step t (controls u[t]):
// gravity m g, constant force, control force, linear and quadratic drag, springs, contact.
// Pinned particles get a force too; integrators ignore it.
void dp_forces(const dpModel *m, const double *theta, int t, const double *x, const double *v,
               double *f);
// Vector-Jacobian product of dp_forces: given f_bar (np × 3), accumulate theta_bar (ntheta,
// including the controls u[t]), x_bar and v_bar (np × 3).
void adj_dp_forces(const dpModel *m, const double *theta, int t, const double *x,
                   const double *v, double *theta_bar, double *x_bar, double *v_bar,
                   const double *f_bar);

// One step t (0 ≤ t < steps) of one environment: s_out = f(s_in, u[t], θ), with the model's
// integrator and substeps. s_in and s_out: nstate each, may not alias.
void dp_step(const dpModel *m, const double *theta, dpData *d, int t, const double *s_in,
             double *s_out);
// Adjoint of dp_step: s_in_bar += (∂f/∂s)ᵀ s_out_bar; theta_bar += (∂f/∂θ)ᵀ s_out_bar.
// s_out is the step's output (the rollout has it: it saves the Euler integrators a force
// evaluation) or NULL to recompute it. Recomputes the substep states from s_in rather than
// storing them.
void adj_dp_step(const dpModel *m, const double *theta, dpData *d, int t, const double *s_in,
                 const double *s_out, double *theta_bar, double *s_in_bar,
                 const double *s_out_bar);
// B environments: theta is B × ntheta (or ntheta when theta_stride is 0); s_in, s_out are
// B × nstate.
void dp_step_batch(const dpModel *m, const double *theta, size_t theta_stride, dpData *d, int t,
                   const double *s_in, double *s_out);

// Check a state for divergence: returns DP_ERR_DIVERGED and names the step, particle and
// quantity ("position", "velocity") in err when a component is non-finite or its magnitude
// exceeds m->divergence_limit.
dpStatus dp_state_check(const dpModel *m, int step, const double *s, dpError *err);

// ============================================================================================
// Losses
// ============================================================================================

// L = Σ_t l_t(x[t]) + r(θ): terms read from a JSON loss file (schemas/loss.schema.json).
typedef struct dpLoss dpLoss;

// Load and bind a loss to a model (entity names resolved, observed trajectories loaded).
// Errors (DP_ERR_INVALID / DP_ERR_IO) name file:line:column and the key.
dpStatus dp_loss_load(const char *path, const dpModel *m, dpLoss **out, dpError *err);
// Same from JSON text; `name` is used in messages.
dpStatus dp_loss_parse(const char *text, const char *name, const dpModel *m, dpLoss **out,
                       dpError *err);
void dp_loss_free(dpLoss *loss);
// 1 when some term depends on the state at step t (0 ≤ t ≤ steps).
int dp_loss_needs_step(const dpLoss *loss, int t);
// l_t(s) added to *L (state s = x[t], nstate). Terms on body origins (body_position, a
// trajectory of bodies/xpos) run forward kinematics in work space the loss owns (allocated when
// it was bound; nothing is allocated here), so one loss is evaluated by one thread at a time.
void dp_loss_step(const dpLoss *loss, const dpModel *m, const double *theta, int t,
                  const double *s, double *L);
// Adjoint of dp_loss_step: s_bar += L_bar ∂l_t/∂s, theta_bar += L_bar ∂l_t/∂θ. The q block of
// s_bar gets gradients with respect to q's components: tangent to each quaternion for body
// origins (adj_dp_body_positions), the plain partial derivatives for joint terms.
void adj_dp_loss_step(const dpLoss *loss, const dpModel *m, const double *theta, int t,
                      const double *s, double *theta_bar, double *s_bar, double L_bar);
// Parameter-only terms r(θ) (control effort, prior) added to *L.
void dp_loss_params(const dpLoss *loss, const dpModel *m, const double *theta, double *L);
void adj_dp_loss_params(const dpLoss *loss, const dpModel *m, const double *theta,
                        double *theta_bar, double L_bar);
// Number of terms and a one-line description of term i (for --json / messages).
int dp_loss_nterms(const dpLoss *loss);
const char *dp_loss_term_kind(const dpLoss *loss, int i);

// ============================================================================================
// Rollout and gradients
// ============================================================================================

typedef enum dpDevice { DP_DEVICE_CPU = 0, DP_DEVICE_CUDA } dpDevice;

// Called for every recorded frame t (t % stride == 0, and t == steps) with the state.
typedef dpStatus (*dpFrameFn)(void *ud, int t, const double *s, dpError *err);

// A rollout of one environment: runs T steps, keeps every k-th state (checkpoints), and runs the
// discrete adjoint backwards, recomputing each segment from its checkpoint. Memory:
// (⌊T/k⌋ + 1 + k + 4) states; k = 0 picks ⌈√T⌉.
typedef struct dpRollout dpRollout;

dpStatus dp_rollout_new(const dpModel *m, dpDevice device, int checkpoint_every,
                        dpRollout **out, dpError *err);
void dp_rollout_free(dpRollout *r);
int dp_rollout_checkpoint_every(const dpRollout *r);
// Bytes of state storage held by the rollout (checkpoints + segment buffer).
size_t dp_rollout_bytes(const dpRollout *r);
// Forward sweep from x[0] = initial state of θ. Adds the loss (if non-NULL) to *L (if non-NULL),
// calls frame (if non-NULL) every `stride` steps. Stops with DP_ERR_DIVERGED naming the step,
// particle and quantity.
dpStatus dp_rollout_forward(dpRollout *r, const double *theta, const dpLoss *loss, double *L,
                            int stride, dpFrameFn frame, void *ud, dpError *err);
// Backward sweep after dp_rollout_forward with the same θ: theta_bar (ntheta) += ∂L/∂θ
// (including initial state and controls).
dpStatus dp_rollout_backward(dpRollout *r, const double *theta, const dpLoss *loss,
                             double *theta_bar, dpError *err);

// Convenience: L and ∂L/∂θ (theta_bar is overwritten) in one forward and one backward sweep.
dpStatus dp_value_and_grad(const dpModel *m, dpDevice device, int checkpoint_every,
                           const double *theta, const dpLoss *loss, double *L,
                           double *theta_bar, dpError *err);
// Loss only (for finite differences).
dpStatus dp_value(const dpModel *m, const double *theta, const dpLoss *loss, double *L,
                  dpError *err);

// ============================================================================================
// Files: NPZ (a ZIP of NPY arrays, deflate, ZIP64), written atomically
// ============================================================================================

typedef struct dpNpzWriter dpNpzWriter;
typedef struct dpNpzArray dpNpzArray;  // a streamed array being written

// Begin writing `path`: data goes to a temporary file in the same directory, renamed over
// `path` by dp_npz_commit; nothing at `path` changes before then. level: deflate 0–9
// (-1: default 6).
dpStatus dp_npz_open(const char *path, int level, dpNpzWriter **out, dpError *err);
// Add a whole float64 array (C order). shape has ndim entries (ndim 0: scalar).
dpStatus dp_npz_add_f64(dpNpzWriter *w, const char *name, int ndim, const size_t *shape,
                        const double *data, dpError *err);
dpStatus dp_npz_add_i64(dpNpzWriter *w, const char *name, int ndim, const size_t *shape,
                        const int64_t *data, dpError *err);
// Add a raw text member (e.g. "meta.json"); stored as is, not as NPY.
dpStatus dp_npz_add_text(dpNpzWriter *w, const char *member, const char *text, dpError *err);
// Stream a float64 array whose leading dimension grows: declare it, append rows, and the
// leading dimension is set to the rows appended at commit. Row size = product of shape[1..].
dpStatus dp_npz_begin_f64(dpNpzWriter *w, const char *name, int ndim, const size_t *shape,
                          dpNpzArray **out, dpError *err);
dpStatus dp_npz_append_f64(dpNpzArray *a, const double *rows, size_t nrows, dpError *err);
// Finish: write the archive, fsync, rename over path; frees w. On failure the temporary file is
// removed and path is untouched.
dpStatus dp_npz_commit(dpNpzWriter *w, dpError *err);
// Abandon: remove the temporary file; frees w. NULL is allowed.
void dp_npz_abort(dpNpzWriter *w);

// A loaded NPZ: every NPY member converted to float64 (from f8, f4, i8, i4, u1, b1), C order;
// other members kept as text.
typedef struct dpNpzEntry {
  char name[DP_PATH_MAX];  // member name without ".npy"
  char dtype[8];           // NPY descr as stored, e.g. "<f8"
  int ndim;
  size_t shape[8];
  size_t size;             // number of elements
  double *data;            // NULL for text members
  char *text;              // NUL-terminated, for non-NPY members (meta.json)
} dpNpzEntry;

typedef struct dpNpz {
  size_t n;
  dpNpzEntry *entry;
} dpNpz;

// Read a whole NPZ. Truncated or corrupt archives and malformed NPY headers are DP_ERR_INVALID
// naming the file and member; a missing file is DP_ERR_IO.
dpStatus dp_npz_read(const char *path, dpNpz **out, dpError *err);
const dpNpzEntry *dp_npz_get(const dpNpz *z, const char *name);
void dp_npz_free(dpNpz *z);

// ---- Trajectory files ----------------------------------------------------------------------
// A trajectory NPZ holds `time` (F,) in s, `particles/x` and `particles/v` (F, np, 3) in m and
// m/s, `controls` (steps, nu, 3) in N when the scene has controls, and `meta.json` (format
// version, tool and version, scene name, file and hash, dt, steps, stride, integrator, units,
// particle names). Frames are the steps t with t % stride == 0, and the last step.
// With articulated bodies (nb > 0) also `bodies/q` (F, nq) and `bodies/qd` (F, nv) (the state's
// joint coordinates and velocities), `bodies/xpos` (F, nb, 3) in m and `bodies/xquat` (F, nb, 4)
// (w, x, y, z; w >= 0), the world poses of the body frames (dp_body_poses); meta.json then lists
// "bodies" (names), "joints" (dp_joint_type_name of each), "parents" (index or -1), "qadr" and
// "vadr" (each body's offset in q and qd) and "shapes" (names). With actuators (na > 0):
// `actuators/controls` (steps, na), actuator a's control at step t in row t, and meta.json's
// "actuators" (names).
typedef struct dpTrajectory dpTrajectory;

// Start writing a trajectory of model m to path (atomically, see dp_npz_open). theta supplies
// the controls and, with bodies, the joint positions of every frame's body poses: it must stay
// valid and unchanged until dp_traj_commit or dp_traj_abort. tool names the writer in
// meta.json.
dpStatus dp_traj_open(const char *path, const dpModel *m, const double *theta, const char *tool,
                      int stride, int level, dpTrajectory **out, dpError *err);
// A dpFrameFn: pass the dpTrajectory as ud to dp_rollout_forward.
dpStatus dp_traj_frame(void *ud, int t, const double *s, dpError *err);
// Number of frames recorded so far.
size_t dp_traj_frames(const dpTrajectory *tr);
// Write the archive under its final name; frees tr.
dpStatus dp_traj_commit(dpTrajectory *tr, dpError *err);
// Abandon: nothing is left at path; frees tr. NULL is allowed.
void dp_traj_abort(dpTrajectory *tr);
// meta.json text describing model m, written by `tool` (stride 0 for non-trajectory files).
// Returns a dp_malloc'ed string (dp_free it) or NULL when out of memory.
char *dp_meta_json(const dpModel *m, const char *tool, int stride);
// Name of a joint type in meta.json and messages: "fixed", "revolute", "prismatic", "ball",
// "free" ("unknown" for a value outside the enum).
const char *dp_joint_type_name(dpJointType type);

// ---- Atomic text files (CSV, YAML, PNG) ----------------------------------------------------
// A file written under a temporary name "<path>.tmp.XXXXXX" in the same directory and renamed
// over path by dp_atomic_commit (after fflush and fsync): an interrupted write never leaves a
// half-written file under the final name. Mode 0666 & ~umask, as for a plain fopen.
typedef struct dpAtomicFile {
  FILE *f;      // write through this stream
  char *path;   // final name
  char *tmp;    // temporary name; NULL once renamed or removed
} dpAtomicFile;

// Create the temporary file. Errors: DP_ERR_IO naming path (directory missing, no permission).
dpStatus dp_atomic_open(dpAtomicFile *a, const char *path, dpError *err);
// Flush, fsync, close and rename over path; on any failure the temporary file is removed, path
// is untouched and DP_ERR_IO names path. Always releases a.
dpStatus dp_atomic_commit(dpAtomicFile *a, dpError *err);
// Close and remove the temporary file; path is untouched. A zeroed or released a is allowed.
void dp_atomic_abort(dpAtomicFile *a);
// Create "<path>.tmp.XXXXXX" exclusively (O_EXCL) with mode 0666 & ~umask; name receives it
// (cap >= strlen(path) + 12). Returns the descriptor, or -1 with errno set.
int dp_atomic_create_tmp(char *name, size_t cap, const char *path);

// ---- CSV tables (libcsv) -------------------------------------------------------------------
// A numeric table: a header row of column names, then rows of numbers (RFC 4180 quoting is
// accepted; "nan", "inf" and empty fields read as NaN / ±inf / NaN).
typedef struct dpTable {
  size_t ncol, nrow;
  char **name;     // ncol column names
  double *data;    // nrow × ncol, row-major
} dpTable;

// Read a CSV file. Errors: DP_ERR_IO for an unreadable file; DP_ERR_INVALID naming
// file:line:column for a row with the wrong number of fields, a field that is not a number,
// an empty or duplicate column name, or a file without a header.
dpStatus dp_csv_read(const char *path, dpTable **out, dpError *err);
void dp_table_free(dpTable *t);
// Index of the column called name, or -1.
int dp_table_column(const dpTable *t, const char *name);
// Write names (ncol) and data (nrow × ncol, row-major) as CSV, numbers with %.17g (exact
// round trip), names quoted only when they need it; atomically (dp_atomic_open).
dpStatus dp_csv_write(const char *path, const char *const *names, size_t ncol, const double *data,
                      size_t nrow, dpError *err);

// ---- Optimized scenes (YAML) ---------------------------------------------------------------
// Write the scene `src` (a YAML file, with the same nsets --set overrides `sets` that compiled
// m) with the parameter block theta (m->ntheta) in place of the scene's values, atomically to
// `path` (dp_atomic_open). The document-level overrides are written into the document; those
// the loader gave to θ entries (generated entities, patterns such as "springs.*.stiffness=100")
// go, as given, to the top-level `overrides:` mapping after the scene's own. Then each θ entry
// whose value differs from what that document gives is written at its place in the document
// (e.g. particles.ball.velocity, springs.c3.rest_length, controls.values as steps rows of nu
// 3-vectors), or under `overrides:` when the document cannot hold it there (cloth particles and
// springs) or it does not read back from there (the velocity of a pinned particle). A rest
// length the document leaves to the initial distance is added when its particles moved. Numbers
// are written with the fewest of 15, 16 or 17 significant digits that read back exactly. The
// name of m is kept (added when the document has none). The text is compiled again before it is
// committed and must give m's model with theta bit for bit. header: comment lines (without
// '#', separated by '\n') put at the top, or NULL. Comments of the source scene are not kept
// (libyaml does not report them); aliases are expanded.
// Errors: DP_ERR_IO for an unreadable src or a path that cannot be created (nothing is left
// behind, an existing file at path is untouched); DP_ERR_INVALID when src with sets is not the
// scene of m, a changed value is not finite or outside its entry's range, a component of theta
// outside every entry (the anchor of a spring between two particles) differs from the scene's,
// or the text would not reproduce theta (naming the first entry that does not); DP_ERR_NOMEM.
dpStatus dp_scene_write(const char *src, const char *const *sets, int nsets, const dpModel *m,
                        const double *theta, const char *header, const char *path,
                        dpError *err);

// ============================================================================================
// Optimizers: gradient descent, Adam, bound-constrained L-BFGS
// ============================================================================================

typedef enum dpOptMethod { DP_OPT_GD = 0, DP_OPT_ADAM, DP_OPT_LBFGS } dpOptMethod;

// Why an optimizer stopped (or DP_STOP_NONE while it runs).
typedef enum dpOptStop {
  DP_STOP_NONE = 0,
  DP_STOP_MAX_ITER,     // the iteration budget is spent
  DP_STOP_GRAD_NORM,    // ‖projected gradient‖∞ <= gtol
  DP_STOP_REL_CHANGE,   // |f_k − f_{k−1}| <= tol · max(|f_k|, |f_{k−1}|) with f_k <= f_{k−1}
  DP_STOP_LINE_SEARCH,  // L-BFGS: no decrease along the steepest-descent direction either
  DP_STOP_INTERRUPTED   // set by the caller (SIGINT / SIGTERM), never by the library
} dpOptStop;

typedef struct dpOptOptions {
  dpOptMethod method;
  double lr;        // GD and Adam step size (in the optimizer's variables); default 1e-2
  int max_iter;     // default 100
  double tol;       // relative change of f; 0 disables; default 1e-12
  double gtol;      // ∞-norm of the projected gradient; 0 disables; default 1e-10
  int memory;       // L-BFGS pairs kept; default 10
  double beta1, beta2, eps;  // Adam (Kingma & Ba 2015): 0.9, 0.999, 1e-8
} dpOptOptions;

// The defaults above, for any method (fields a method does not use are still checked by
// dp_opt_new where the error list below says so).
dpOptOptions dp_default_opt_options(dpOptMethod method);
const char *dp_opt_method_name(dpOptMethod method);   // "gd", "adam", "lbfgs"
// "none", "max_iter", "grad_norm", "rel_change", "line_search", "interrupted".
const char *dp_opt_stop_name(dpOptStop stop);

// The objective: f(z) and its gradient g (n) at z (n). Returns DP_OK or an error that stops
// the optimizer (e.g. DP_ERR_DIVERGED from a rollout).
typedef dpStatus (*dpOptFn)(void *ud, const double *z, double *f, double *g, dpError *err);

// An optimizer over z in the box [lower, upper] (n each; ±INFINITY for none). Every point
// it evaluates lies in the box: GD z ← P(z − lr·g) and Adam (Kingma & Ba, "Adam: a method for
// stochastic optimization", ICLR 2015, Alg. 1, with bias correction) project their steps;
// L-BFGS is the projected quasi-Newton method: variables at a bound whose gradient pushes them
// out (and fixed ones, lower == upper) are held, the two-loop recursion with H0 = (sᵀy/yᵀy) I
// gives the step on the others (Nocedal & Wright, Numerical Optimization, 2nd ed., 2006,
// Alg. 7.4), and a backtracking Armijo search (c1 = 1e-4, at most 30 trials, safeguarded
// quadratic interpolation) runs along the projected path P(z + αd) (Bertsekas, "Projected Newton
// methods for optimization problems with simple constraints", SIAM J. Control Optim. 20(2),
// 1982). The first step, and any step without memory, is steepest descent scaled to move no
// variable by more than 1. A pair (s, y) is kept only when sᵀy > 1e-10 ‖s‖‖y‖. If the
// quasi-Newton search fails, the memory is dropped and steepest descent tried once more.
// All memory is allocated by dp_opt_new; start and iterate allocate nothing.
typedef struct dpOptimizer dpOptimizer;

// lower, upper: n bounds each, or NULL for none on that side; lower == upper fixes a variable.
// opt: not NULL. *out is NULL on failure.
// Errors: DP_ERR_INVALID for n < 1, a NaN bound, lower > upper ("lower bound 3 > upper bound 1
// for variable 2", 0-based), lower = +INFINITY or upper = −INFINITY, an unknown method,
// lr <= 0, max_iter < 0, tol or gtol < 0 or NaN, memory < 1, and for Adam beta1 or beta2
// outside [0, 1) or eps <= 0; DP_ERR_NOMEM.
dpStatus dp_opt_new(int n, const double *lower, const double *upper, const dpOptOptions *opt,
                    dpOptimizer **out, dpError *err);
void dp_opt_free(dpOptimizer *o);
// Project z0 (n) into the box and evaluate f and g there (iteration 0). Starting again restarts:
// counts, L-BFGS memory, Adam moments and the best point are reset. Errors: DP_ERR_INVALID for
// a non-finite z0; DP_ERR_DIVERGED when f or g is not finite at the start; fn's error unchanged.
dpStatus dp_opt_start(dpOptimizer *o, dpOptFn fn, void *ud, const double *z0, dpError *err);
// One iteration: moves to a new point and evaluates f and g there (L-BFGS may evaluate several
// trial points). It does not check the stop rules: the caller loops while dp_opt_stop is
// DP_STOP_NONE. Returns an error from fn unchanged, and the current point then stays as it was.
// L-BFGS treats a non-finite f or g at a trial point as no decrease and backtracks; when no
// trial is accepted the point stays, the iteration is not counted and dp_opt_stop says
// DP_STOP_LINE_SEARCH. GD and Adam cannot backtrack: a non-finite f or g at their new point is
// DP_ERR_DIVERGED (the point stays). DP_ERR_INVALID before a successful dp_opt_start.
dpStatus dp_opt_iterate(dpOptimizer *o, dpOptFn fn, void *ud, dpError *err);
// The stop rule that holds at the current point, checked in this order: grad_norm (gtol > 0),
// rel_change (tol > 0, from iteration 1 on, and only for a step that did not raise f, so a GD
// or Adam oscillation whose values happen to agree goes on), line_search, max_iter
// (dp_opt_iter >= max_iter). DP_STOP_NONE before dp_opt_start.
dpOptStop dp_opt_stop(const dpOptimizer *o);
int dp_opt_iter(const dpOptimizer *o);      // iterations done (0 after start)
int dp_opt_evals(const dpOptimizer *o);     // calls of fn since dp_opt_start (its own included)
// The arrays below belong to the optimizer, stay valid until dp_opt_free, and are updated in
// place by start and iterate.
const double *dp_opt_z(const dpOptimizer *o);   // current point (n)
double dp_opt_f(const dpOptimizer *o);
const double *dp_opt_g(const dpOptimizer *o);   // gradient at the current point (n)
// ‖z − P(z − g)‖∞ at the current point: |g_i| for a free variable, less where the step −g_i
// would cross a bound, 0 for a fixed one (Bertsekas 1982).
double dp_opt_pgnorm(const dpOptimizer *o);
// Best point seen (lowest f) and its f: what an interrupted run keeps. Among the start point
// and the accepted iterates (every GD and Adam iterate, each L-BFGS point after its search).
const double *dp_opt_best_z(const dpOptimizer *o);
double dp_opt_best_f(const dpOptimizer *o);

// ============================================================================================
// Images: PNG plots and frames (libpng)
// ============================================================================================

// An RGB image, 8 bits per channel, row-major from the top-left.
typedef struct dpImage {
  int width, height;
  unsigned char *rgb;   // width × height × 3
} dpImage;

// A white image. Errors: DP_ERR_INVALID for a size outside 16..8192; DP_ERR_NOMEM.
dpStatus dp_image_new(int width, int height, dpImage **out, dpError *err);
// NULL is allowed.
void dp_image_free(dpImage *img);
// Write as an 8-bit RGB PNG through libpng (its allocations go through dp_malloc), atomically
// (dp_atomic_open): on any failure nothing is left at path or beside it. Errors: DP_ERR_IO
// naming path (directory missing, write failure); DP_ERR_INVALID for no image; DP_ERR_NOMEM.
dpStatus dp_image_write_png(const dpImage *img, const char *path, dpError *err);
// Read a PNG (for tests and tools), converted to 8-bit RGB: palette and grey expanded, 16-bit
// samples reduced to 8, alpha dropped (not composited). Any size up to 16384 × 16384.
// Errors: DP_ERR_IO when the file cannot be opened; DP_ERR_INVALID naming path for a file that
// is not a PNG, truncated or corrupt; DP_ERR_NOMEM.
dpStatus dp_image_read_png(const char *path, dpImage **out, dpError *err);

// One line series of a plot.
typedef struct dpPlotSeries {
  const char *label;    // legend text
  size_t n;
  const double *x;      // n abscissae
  const double *y;      // n ordinates (non-finite points break the line)
} dpPlotSeries;

typedef struct dpPlotOptions {
  int width, height;            // pixels; default 800 × 500
  const char *title;            // NULL: none
  const char *xlabel, *ylabel;  // NULL: none
  int logy;                     // 1: logarithmic y axis (non-positive y are skipped)
  double xmin, xmax, ymin, ymax;  // NaN: automatic (data range, rounded out to ticks)
} dpPlotOptions;

// Where data lands on the image: the plot area in pixels and the axis ranges it spans
// (in log10 units on a log axis). Pixel column of x: x0 + (x − xmin)/(xmax − xmin)·(x1 − x0);
// row of y: y1 − (y − ymin)/(ymax − ymin)·(y1 − y0) (pixel (i, j) is centred at (i, j); the
// frame line is drawn on the area's outermost pixels, over the data).
typedef struct dpPlotFrame {
  int x0, y0, x1, y1;          // plot area, inclusive, y0 the top row
  double xmin, xmax, ymin, ymax;
} dpPlotFrame;

dpPlotOptions dp_default_plot_options(void);
// Draw a line plot on a white background: a framed plot area with light grid lines, ticks of 1,
// 2 or 5 × 10^k with numeric labels (decades and minor ticks on a log axis), axis labels (y
// turned), a title, a legend at the top right inside the area (when there are several series
// or the first has a label; unlabelled series are called "series N"), and each series in its
// own colour as a 2-pixel line clipped to the area; series k gets colour k mod 8 of #1f77b4,
// #ff7f0e, #2ca02c, #d62728, #9467bd, #8c564b, #e377c2, #17becf (matplotlib's "tab10" without
// its grey and olive; everything else in a plot is grey, black or white). A point that
// cannot be drawn (non-finite x or y, y <= 0 on a log axis) breaks the line; a point between
// two breaks is a dot. Automatic ranges cover the drawable points, rounded out to ticks
// (decades on a log axis); a constant gets ±5% of its value (±0.5 around 0). Text is the
// built-in 5 × 7 font, doubled from 1200 × 750 pixels. opt NULL: the defaults. frame (may be
// NULL) receives the layout. Errors: DP_ERR_INVALID for no series, a series of n > 0 without
// x or y, no drawable point, limits that are infinite, reversed or (log axis) not positive,
// or a size outside 16..8192 or too small to hold the area; DP_ERR_NOMEM.
dpStatus dp_plot(const dpPlotSeries *series, int nseries, const dpPlotOptions *opt,
                 dpImage **out, dpPlotFrame *frame, dpError *err);

// Orthographic views of a scene: the two world axes mapped to image right and up.
typedef enum dpView { DP_VIEW_XZ = 0, DP_VIEW_XY, DP_VIEW_YZ } dpView;

// World bounds [lo, hi] (3 each, m) of what a render of model m shows over frames x (nframes ×
// np × 3; NULL when nframes is 0): every finite particle position, spring anchors and the
// finite colliders (boxes and spheres whole); the ground plane adds its height to z. With
// bodies, bpos (nframes × nb × 3, m) and bquat (nframes × nb × 4, w x y z) are the body poses of
// each frame (a trajectory's bodies/xpos and bodies/xquat, or dp_body_poses): the body origins
// and the world-aligned box around every shape count too; NULL (either) leaves bodies out.
// theta: the parameter block (m->ntheta) or NULL for m->theta0. An axis nothing reaches gets
// [−0.5, 0.5]; when everything is one point, a metre cube around it. Used to frame all frames
// of a trajectory alike.
void dp_render_bounds(const dpModel *m, const double *theta, const double *x, const double *bpos,
                      const double *bquat, size_t nframes, double lo[3], double hi[3]);
// Draw one frame over the whole of img (any size): ground as a line with the half-plane below
// shaded (in the XY view the whole image is tinted), boxes as filled rectangles with an
// outline, spheres as filled circles, then the shapes of articulated bodies, springs as thin
// lines (anchors as small squares), particles as #1f77b4 disks (radius min(W, H)/120 clamped to
// 3..8 pixels) and pinned ones as #d62728 squares, the time "t = 0.250 s" at the top left and
// the view's name at the top right. The ground line is #6b5b45, 2 pixels wide. x: np × 3
// positions (m); theta as for dp_render_bounds. Bodies: bpos (nb × 3, m) and bquat (nb × 4,
// w x y z, normalized here) give each body frame's world pose; a shape's centre is
// bpos + R(bquat)·position (θ shapes.NAME.position, body frame) and its axes R(bquat)·R(quat).
// Shapes are filled #e8c9a0 with a #8c5a2b outline, farthest first along the viewing direction
// (+y in the x-z view, −z in x-y, −x in y-z): a sphere as a disk, a capsule as a thick segment
// with round caps between its projected ends, a box as the convex hull of its 8 projected
// corners. Over them, a stick figure: a #404040 line from each body origin to its parent's and
// a #202020 dot (half the particle radius) at every origin. Bodies with a non-finite pose are
// skipped. Mapping of world axes (a, b) = (x, z), (x, y) or (y, z): with extents
// Δa = hi[a] − lo[a], Δb likewise, D = max(Δa, Δb) (1 m when below 1e-9 m), margin μ = 0.08·D
// and scale s = min(W/(Δa + 2μ), H/(Δb + 2μ)) pixels per metre, a point lands at column
// (W − 1)/2 + (p[a] − (lo[a] + hi[a])/2)·s and row (H − 1)/2 − (p[b] − (lo[b] + hi[b])/2)·s.
// Non-finite positions are skipped. Errors: DP_ERR_INVALID for a NULL model or image, x NULL
// with particles, bpos or bquat NULL with bodies, non-finite bounds or an unknown view;
// DP_ERR_NOMEM.
dpStatus dp_render_frame(const dpModel *m, const double *theta, const double *x,
                         const double *bpos, const double *bquat, double time, dpView view,
                         const double lo[3], const double hi[3], dpImage *img, dpError *err);

// ============================================================================================
// Optimization problems: the scene's parameters as optimizer variables
// ============================================================================================

// The variables z of an optimization over some θ components: z_i = θ_j (linear scale) or
// log θ_j (log scale, for positive quantities: the optimizer then moves by relative amounts and
// never reaches 0). Bounds in z come from the scene's `parameters:` list intersected with the
// entry's admissible range (dpParam.lower/upper). The objective is the rollout loss, its
// gradient ∂L/∂z_i = ∂L/∂θ_j (linear) or θ_j ∂L/∂θ_j (log).
typedef struct dpProblem {
  const dpModel *m;
  const dpLoss *loss;
  size_t n;              // variables
  size_t *index;         // n θ indices
  unsigned char *log;    // n: 1 for log scale
  double *lower, *upper; // n bounds in z (±INFINITY for none)
  char (*name)[DP_PATH_MAX + 16];  // n column names: "particles.ball.velocity[0]", "gravity[2]"
  double *theta;         // ntheta working θ (starts as m->theta0)
  double *theta_bar;     // ntheta gradient of the last evaluation
  dpRollout *rollout;
  int evals;             // objective evaluations
  int diverged;          // the last evaluation diverged (its f is NaN); message in diverge_err
  dpError diverge_err;
} dpProblem;

// Variables from the paths `wrt` (nwrt patterns, as for dp_param_select; each component once,
// in order of first selection), or from the scene's `parameters:` list when nwrt is 0. A --wrt
// pattern that names a `parameters:` entry takes its bounds and scale. Errors: DP_ERR_INVALID
// when nothing is selected, a pattern matches nothing (with a suggestion), a value is not finite
// (friction_damping defaults to inf), a log-scale
// component is not > 0, or a bound is not below the other; DP_ERR_NOMEM.
dpStatus dp_problem_new(const dpModel *m, const dpLoss *loss, const char *const *wrt, int nwrt,
                        dpDevice device, int checkpoint_every, dpProblem **out, dpError *err);
void dp_problem_free(dpProblem *p);
// z (n) from θ (ntheta), and θ from z (the other components of θ are left as they are).
void dp_problem_to_z(const dpProblem *p, const double *theta, double *z);
void dp_problem_to_theta(const dpProblem *p, const double *z, double *theta);
// A dpOptFn (ud = the dpProblem): sets p->theta from z, runs the rollout forward and backward,
// and returns f = L and g = ∂L/∂z. A diverged rollout is not an error here: f = NaN, g = 0,
// p->diverged = 1 and the message kept in p->diverge_err, so a line search backs off; other
// failures are returned.
dpStatus dp_problem_eval(void *ud, const double *z, double *f, double *g, dpError *err);

// ============================================================================================
// CUDA backend
// ============================================================================================

// DP_OK when the library was built with nvcc and a CUDA device is present; otherwise
// DP_ERR_NO_CUDA with the reason in why (e.g. "built without CUDA", "no CUDA device").
dpStatus dp_cuda_available(char *why, size_t n);

// ============================================================================================
// CUDA soft-body kernels
// ============================================================================================

// The element loops of the soft bodies and shells on the GPU: host arrays in, host arrays out.
// Each call computes the element rest data from θ on the host with the kernels the CPU step
// uses (tet_rest, fem_lame, tri_rest, cloth_lame, hinge_rest: Dm⁻¹, rest volume or area, Lamé
// parameters, hinge rest angle and weight), uploads it, and runs one GPU thread per
// tetrahedron, triangle or hinge with the CPU's kernel bodies (phys_fem_kern.h,
// phys_cloth_kern.h), scattering into the vertices with atomicAdd: results agree with the CPU
// loops of phys_fem.c to round-off (~1e-12 relative), not bit for bit, and the order of the
// additions at a vertex varies from run to run. Device buffers are allocated and freed within
// each call (nothing is kept between calls). Pinned vertices are treated like the others.
// Common arguments: m: a finalized model (without soft bodies a usable device gives DP_OK and
// nothing to do); theta: θ of m (ntheta), or NULL for m->theta0; x, v, dx, f_bar: nvert × 3
// host arrays over the soft vertices (positions in m, velocities in m/s, a displacement in m,
// the adjoint of the forces).
// Errors: DP_ERR_NO_CUDA when built without nvcc or no usable device is present (the message
// says which); DP_ERR_CUDA when a CUDA call fails (the message names file and line);
// DP_ERR_NOMEM.

// Internal forces f (nvert × 3, N; written) of every soft body and shell at positions x and
// velocities v: tetrahedra (tet_force: elastic stress plus the Rayleigh stiffness-damping
// stress, linearised at x itself), triangle membranes (tri_force, likewise) and bending hinges
// (hinge_force). Not included: the Rayleigh mass damping −α m v, gravity, contact and
// aerodynamics (fem_forces adds them on the CPU). Source: Sifakis & Barbič, SIGGRAPH 2012 FEM
// course, §4 (nodal forces); Grinspun et al., "Discrete Shells", SCA 2003 (bending).
dpStatus dp_cuda_soft_forces(const dpModel *m, const double *theta, const double *x,
                             const double *v, double *f, dpError *err);

// out = K dx (nvert × 3, N; written): the Hessian K = ∂²E/∂x² of the elastic and bending energy
// E (tet_elastic_hvp, tri_elastic_hvp, hinge_hvp) at positions x times the displacement dx.
// K = −∂f/∂x of the elastic and bending forces; no damping or mass term. Symmetric, indefinite
// in general (no definiteness projection).
dpStatus dp_cuda_soft_hvp(const dpModel *m, const double *theta, const double *x,
                          const double *dx, double *out, dpError *err);

// Vector-Jacobian product of dp_cuda_soft_forces: x_bar += (∂f/∂x)ᵀ f_bar and
// v_bar += (∂f/∂v)ᵀ f_bar (nvert × 3 each, accumulated), with adj_tet_force, adj_tri_force and
// adj_hinge_force (the damping configuration x_d = x, so its adjoint goes to x_bar). The
// adjoints of θ (materials, rest shape, damping, bending stiffness) are not computed.
dpStatus dp_cuda_soft_adj_forces(const dpModel *m, const double *theta, const double *x,
                                 const double *v, const double *f_bar, double *x_bar,
                                 double *v_bar, dpError *err);

#ifdef __cplusplus
}
#endif

#endif  // DP_DP_H
