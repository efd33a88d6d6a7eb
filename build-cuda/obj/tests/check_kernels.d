build-cuda/obj/tests/check_kernels.o: tests/check_kernels.c \
 tests/check_suites.h lib/phys_contact_kern.h lib/core_kern.h \
 lib/phys_integrate_kern.h lib/phys_particle_kern.h \
 lib/phys_spring_kern.h tests/testutil.h lib/include/dp/dp.h
tests/check_suites.h:
lib/phys_contact_kern.h:
lib/core_kern.h:
lib/phys_integrate_kern.h:
lib/phys_particle_kern.h:
lib/phys_spring_kern.h:
tests/testutil.h:
lib/include/dp/dp.h:
