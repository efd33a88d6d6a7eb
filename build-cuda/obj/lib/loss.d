build-cuda/obj/lib/loss.o: lib/loss.c lib/loss.h lib/include/dp/dp.h
lib/loss.h:
lib/include/dp/dp.h:
