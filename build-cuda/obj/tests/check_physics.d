build-cuda/obj/tests/check_physics.o: tests/check_physics.c \
 tests/check_suites.h lib/include/dp/dp.h tests/testutil.h
tests/check_suites.h:
lib/include/dp/dp.h:
tests/testutil.h:
