build-cuda/obj/lib/grad_rollout.o: lib/grad_rollout.c lib/include/dp/dp.h \
 lib/grad_backend.h
lib/include/dp/dp.h:
lib/grad_backend.h:
