build-cuda/obj/cmd/dp-differentiate.o: cmd/dp-differentiate.c \
 cmd/common.h lib/include/dp/dp.h
cmd/common.h:
lib/include/dp/dp.h:
