build-cuda/obj/cmd/common.o: cmd/common.c cmd/common.h \
 lib/include/dp/dp.h
cmd/common.h:
lib/include/dp/dp.h:
