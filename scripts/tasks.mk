# The optimization tasks of dp, one make target each (included by the top-level Makefile):
#   make task-projectile    launch velocity to hit a target 30 m away through quadratic drag
#   make task-bounce        the bounce benchmark: initial velocity, GD (lr 0.02) and Adam
#   make task-spring-cage   eight rest lengths that move a caged particle to a point
#   make task-sysid         mass, stiffness and damping of an oscillator from noisy positions
#   make task-cloth         corner forces that carry a cloth's centre of mass to a target
#   make task-cartpole      cart forces that swing a pole up and stop it upright
#   make task-box-slide     the friction coefficient of a sliding box from observed positions
#   make task-soft-sysid    Young's modulus and Poisson's ratio of a shaken soft block
#   make task-cloth-throw   initial vertex velocities that throw a cloth's centroid to a target
#   make tasks              all nine
# Each writes out/tasks/NAME.{yaml,csv,npz,json}, checks its criterion with
# scripts/task_check.py, and checks that dp-differentiate on the optimized scene reproduces the
# loss. TASK_FLAGS adds dp-optimize options (e.g. TASK_FLAGS=--progress).

TASK_OUT ?= out/tasks
TASK_BIN ?= $(BUILD)/bin
PY ?= /usr/bin/python3
TASK_TOOLS := $(TASK_BIN)/dp-optimize $(TASK_BIN)/dp-differentiate $(TASK_BIN)/dp-simulate

.PHONY: tasks task-projectile task-bounce task-spring-cage task-sysid task-cloth task-cartpole \
  task-box-slide task-soft-sysid task-cloth-throw sysid-data box-slide-data soft-sysid-data
tasks: task-projectile task-bounce task-spring-cage task-sysid task-cloth task-cartpole \
  task-box-slide task-soft-sysid task-cloth-throw

# run_task NAME SCENE LOSS DP-OPTIMIZE-OPTIONS CHECKS
define run_task
	@mkdir -p $(TASK_OUT)
	$(TASK_BIN)/dp-optimize $(2) $(3) $(4) $(TASK_FLAGS) -o $(TASK_OUT)/$(1).yaml \
	  --history $(TASK_OUT)/$(1).csv --trajectory $(TASK_OUT)/$(1).npz --json \
	  > $(TASK_OUT)/$(1).json
	$(TASK_BIN)/dp-differentiate $(TASK_OUT)/$(1).yaml $(3) --json > $(TASK_OUT)/$(1).check.json
	$(PY) scripts/task_check.py $(TASK_OUT)/$(1).json $(5) \
	  --reproduce $(TASK_OUT)/$(1).check.json
endef

task-projectile: $(TASK_TOOLS)
	$(call run_task,projectile,scenes/projectile.yaml,scenes/projectile.json,\
	  --method lbfgs --max-iter 100,--loss-below 1e-8 --max-iter 100)

# The benchmark: the adjoint agrees with central differences at the start; gradient descent
# with lr 0.02 for 250 iterations as the benchmark prescribes (it reduces the loss about 6x but
# stalls far from 1e-2 on this contact model: see README, "Tasks"); Adam from the same start
# reaches the target.
task-bounce: $(TASK_TOOLS)
	$(TASK_BIN)/dp-differentiate scenes/bounce.yaml scenes/bounce.json --check \
	  --check-tol 1e-6 --quiet
	$(call run_task,bounce_gd,scenes/bounce.yaml,scenes/bounce.json,\
	  --method gd --lr 0.02 --max-iter 250 --tol 0,--below-initial 0.2 --max-iter 250)
	$(call run_task,bounce,scenes/bounce.yaml,scenes/bounce.json,\
	  --method adam --lr 0.5 --max-iter 250 --tol 0,--loss-below 1e-2 --max-iter 250)

task-spring-cage: $(TASK_TOOLS)
	$(call run_task,spring_cage,scenes/spring_cage.yaml,scenes/spring_cage.json,\
	  --method lbfgs --max-iter 100,--loss-below 1e-10 --max-iter 100)

task-sysid: $(TASK_TOOLS)
	$(call run_task,sysid,scenes/sysid.yaml,scenes/sysid.json,\
	  --method lbfgs --max-iter 300,--max-iter 300 --param particles.bob.mass=1 \
	  --param springs.spring.stiffness=40 --param springs.spring.damping=0.5 --rel-tol 0.01)

task-cloth: $(TASK_TOOLS)
	$(call run_task,cloth_control,scenes/cloth_control.yaml,scenes/cloth_control.json,\
	  --method lbfgs --max-iter 50,--loss-below 1e-4 --max-iter 50)

# The criterion is on the optimized trajectory's last frame: the pole (coordinate 1 of q and qd)
# upright within 0.05 rad, either way round (modulo 2π), pole and cart (coordinate 0) moving
# slower than 0.1 rad/s and 0.1 m/s.
task-cartpole: $(TASK_TOOLS)
	$(call run_task,cartpole,scenes/cartpole.yaml,scenes/cartpole.json,\
	  --method lbfgs --max-iter 100,--max-iter 100 --trajectory $(TASK_OUT)/cartpole.npz \
	  --final-angle 'bodies/q[1]=3.141592653589793+-0.05' --final 'bodies/qd[1]=0+-0.1' \
	  --final 'bodies/qd[0]=0+-0.1')

task-box-slide: $(TASK_TOOLS)
	$(call run_task,box_slide,scenes/box_slide.yaml,scenes/box_slide.json,\
	  --method lbfgs --max-iter 100,--max-iter 100 --param ground.friction=0.5 --rel-tol 0.01)

# E and ν of a soft block within 1 % from its observed vertex trajectory, from E = 20 kPa,
# ν = 0.25 (true 50 kPa, 0.35).
task-soft-sysid: $(TASK_TOOLS)
	$(call run_task,soft_sysid,scenes/soft_sysid.yaml,scenes/soft_sysid.json,\
	  --method lbfgs --max-iter 60,--max-iter 60 --param softbodies.block.youngs_modulus=5e4 \
	  --param softbodies.block.poisson_ratio=0.35 --rel-tol 0.01)
# Cloth throw: Adam on the 768 initial vertex velocities; the loss must fall at least 10x within
# 64 iterations.
task-cloth-throw: $(TASK_TOOLS)
	$(call run_task,cloth_throw,scenes/cloth_throw.yaml,scenes/cloth_throw.json,\
	  --method adam --lr 0.5 --max-iter 64 --tol 0,--below-initial 0.1 --max-iter 64)
# Regenerate the observations of task-soft-sysid: the true E and ν, every 5th step.
soft-sysid-data: $(TASK_BIN)/dp-simulate
	$(TASK_BIN)/dp-simulate scenes/soft_sysid.yaml --set softbodies.block.youngs_modulus=5e4 \
	  --set softbodies.block.poisson_ratio=0.35 --stride 5 -o scenes/soft_sysid_obs.npz
# Regenerate the synthetic observations of task-sysid: the true constants, 1 mm of noise.
sysid-data: $(TASK_BIN)/dp-simulate
	$(TASK_BIN)/dp-simulate scenes/sysid.yaml --set particles.bob.mass=1 \
	  --set springs.spring.stiffness=40 --set springs.spring.damping=0.5 \
	  --noise 0.001 --seed 1 -o scenes/sysid_obs.npz

# Regenerate the observations of task-box-slide: the true friction coefficient, no noise, every
# 10th step (the trajectory term maps frames to steps by their time).
box-slide-data: $(TASK_BIN)/dp-simulate
	$(TASK_BIN)/dp-simulate scenes/box_slide.yaml --set ground.friction=0.5 --stride 10 \
	  -o scenes/box_slide_obs.npz
