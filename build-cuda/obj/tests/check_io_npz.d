build-cuda/obj/tests/check_io_npz.o: tests/check_io_npz.c \
 tests/check_suites.h lib/include/dp/dp.h tests/testutil.h
tests/check_suites.h:
lib/include/dp/dp.h:
tests/testutil.h:
