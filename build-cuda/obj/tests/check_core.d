build-cuda/obj/tests/check_core.o: tests/check_core.c \
 tests/check_suites.h lib/include/dp/dp.h tests/testutil.h
tests/check_suites.h:
lib/include/dp/dp.h:
tests/testutil.h:
