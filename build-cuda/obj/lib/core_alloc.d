build-cuda/obj/lib/core_alloc.o: lib/core_alloc.c lib/include/dp/dp.h
lib/include/dp/dp.h:
