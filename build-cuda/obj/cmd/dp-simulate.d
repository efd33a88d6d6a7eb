build-cuda/obj/cmd/dp-simulate.o: cmd/dp-simulate.c cmd/common.h \
 lib/include/dp/dp.h
cmd/common.h:
lib/include/dp/dp.h:
