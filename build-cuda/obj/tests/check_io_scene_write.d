build-cuda/obj/tests/check_io_scene_write.o: tests/check_io_scene_write.c \
 tests/check_suites.h lib/include/dp/dp.h lib/io_yaml.h tests/testutil.h
tests/check_suites.h:
lib/include/dp/dp.h:
lib/io_yaml.h:
tests/testutil.h:
