# A parameter sweep with make: how far the projectile of scenes/projectile.yaml flies in 2 s for
# a range of quadratic drag coefficients. One dp-simulate run per value (in parallel with -j),
# one CSV row per run, gathered into out/sweep/sweep.csv and plotted with dp-inspect.
#
#   make -j2 -f scripts/sweep.mk            run what is missing or out of date, then plot
#   make -j2 -f scripts/sweep.mk DRAGS="0 0.001 0.002"   another grid (only new runs are done)
#   make -f scripts/sweep.mk clean
#
# Incremental: a run is redone only when the scene or the tools change; the CSV and the plot
# are redone when a run or the grid changes. Copy this file to sweep your own scene: change
# SCENE, the --set path, the grid, and the values each row records (dp-inspect --get).

BIN ?= build/bin
OUT ?= out/sweep
SCENE ?= scenes/projectile.yaml
DRAGS ?= 0 0.0005 0.001 0.0015 0.002 0.0025 0.003 0.0035 0.004

RUNS := $(patsubst %,$(OUT)/run_%.npz,$(DRAGS))
ROWS := $(RUNS:.npz=.row)

.PHONY: all clean
# Keep every run's trajectory (make would delete them as intermediate files).
.SECONDARY:
all: $(OUT)/sweep.png
	@echo "sweep: $(words $(DRAGS)) runs -> $(OUT)/sweep.csv, $(OUT)/sweep.png"

# The tools come from the top-level build.
$(BIN)/dp-simulate $(BIN)/dp-inspect:
	$(MAKE) all

# The grid itself is a prerequisite: the file changes only when the list does.
$(OUT)/grid.txt: FORCE | $(OUT)
	@echo "$(DRAGS)" | cmp -s - $@ || echo "$(DRAGS)" > $@

$(OUT):
	mkdir -p $@

$(OUT)/run_%.npz: $(SCENE) $(BIN)/dp-simulate | $(OUT)
	$(BIN)/dp-simulate $(SCENE) --set particles.ball.quadratic_drag=$* --stride 10 -q -o $@

# One row: the drag coefficient, then where the ball is after 2 s (x downrange, z height).
$(OUT)/run_%.row: $(OUT)/run_%.npz $(BIN)/dp-inspect
	printf '%s,%s,%s\n' $* "$$($(BIN)/dp-inspect $< --get 'particles/x[-1,ball,0]')" \
	  "$$($(BIN)/dp-inspect $< --get 'particles/x[-1,ball,2]')" > $@.tmp && mv $@.tmp $@

$(OUT)/sweep.csv: $(ROWS) $(OUT)/grid.txt
	{ echo "quadratic_drag,x_end,z_end"; cat $(ROWS); } > $@.tmp && mv $@.tmp $@

$(OUT)/sweep.png: $(OUT)/sweep.csv $(BIN)/dp-inspect
	$(BIN)/dp-inspect $< --plot x_end --plot z_end --x quadratic_drag \
	  --title "projectile after 2 s" --xlabel "quadratic drag (N s^2/m^2)" \
	  --ylabel "position (m)" -o $@

clean:
	rm -rf $(OUT)

.PHONY: FORCE
FORCE:
