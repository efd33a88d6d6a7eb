build-cuda/obj/cmd/dp-optimize.o: cmd/dp-optimize.c cmd/common.h \
 lib/include/dp/dp.h
cmd/common.h:
lib/include/dp/dp.h:
