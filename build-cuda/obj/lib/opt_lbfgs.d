build-cuda/obj/lib/opt_lbfgs.o: lib/opt_lbfgs.c lib/opt_internal.h \
 lib/include/dp/dp.h
lib/opt_internal.h:
lib/include/dp/dp.h:
