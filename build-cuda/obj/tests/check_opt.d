build-cuda/obj/tests/check_opt.o: tests/check_opt.c tests/check_suites.h \
 lib/include/dp/dp.h tests/testutil.h
tests/check_suites.h:
lib/include/dp/dp.h:
tests/testutil.h:
