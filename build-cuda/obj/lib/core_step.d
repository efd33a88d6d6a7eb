build-cuda/obj/lib/core_step.o: lib/core_step.c lib/include/dp/dp.h \
 lib/phys_integrate_kern.h lib/core_kern.h
lib/include/dp/dp.h:
lib/phys_integrate_kern.h:
lib/core_kern.h:
