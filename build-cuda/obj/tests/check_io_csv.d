build-cuda/obj/tests/check_io_csv.o: tests/check_io_csv.c \
 tests/check_suites.h lib/include/dp/dp.h tests/testutil.h
tests/check_suites.h:
lib/include/dp/dp.h:
tests/testutil.h:
