build-cuda/obj/tests/check_io_scene.o: tests/check_io_scene.c \
 tests/check_suites.h lib/include/dp/dp.h tests/testutil.h
tests/check_suites.h:
lib/include/dp/dp.h:
tests/testutil.h:
