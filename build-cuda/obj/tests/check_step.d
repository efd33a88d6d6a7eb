build-cuda/obj/tests/check_step.o: tests/check_step.c \
 tests/check_suites.h lib/include/dp/dp.h tests/testutil.h
tests/check_suites.h:
lib/include/dp/dp.h:
tests/testutil.h:
