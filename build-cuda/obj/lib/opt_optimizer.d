build-cuda/obj/lib/opt_optimizer.o: lib/opt_optimizer.c \
 lib/opt_internal.h lib/include/dp/dp.h
lib/opt_internal.h:
lib/include/dp/dp.h:
