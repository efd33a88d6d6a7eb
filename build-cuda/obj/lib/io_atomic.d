build-cuda/obj/lib/io_atomic.o: lib/io_atomic.c lib/include/dp/dp.h
lib/include/dp/dp.h:
