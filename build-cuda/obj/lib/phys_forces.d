build-cuda/obj/lib/phys_forces.o: lib/phys_forces.c lib/include/dp/dp.h \
 lib/phys_contact_kern.h lib/core_kern.h lib/phys_particle_kern.h \
 lib/phys_spring_kern.h
lib/include/dp/dp.h:
lib/phys_contact_kern.h:
lib/core_kern.h:
lib/phys_particle_kern.h:
lib/phys_spring_kern.h:
