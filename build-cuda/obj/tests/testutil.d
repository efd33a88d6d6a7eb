build-cuda/obj/tests/testutil.o: tests/testutil.c tests/testutil.h \
 lib/include/dp/dp.h
tests/testutil.h:
lib/include/dp/dp.h:
