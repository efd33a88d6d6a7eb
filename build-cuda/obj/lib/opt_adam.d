build-cuda/obj/lib/opt_adam.o: lib/opt_adam.c lib/opt_internal.h \
 lib/include/dp/dp.h
lib/opt_internal.h:
lib/include/dp/dp.h:
