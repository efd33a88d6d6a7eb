build-cuda/obj/tests/check_cuda.o: tests/check_cuda.c \
 tests/check_suites.h lib/include/dp/dp.h tests/testutil.h
tests/check_suites.h:
lib/include/dp/dp.h:
tests/testutil.h:
