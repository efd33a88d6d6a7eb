build-cuda/obj/lib/core_error.o: lib/core_error.c lib/include/dp/dp.h
lib/include/dp/dp.h:
