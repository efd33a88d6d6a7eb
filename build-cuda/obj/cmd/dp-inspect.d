build-cuda/obj/cmd/dp-inspect.o: cmd/dp-inspect.c cmd/common.h \
 lib/include/dp/dp.h lib/core_text.h lib/io_yaml.h
cmd/common.h:
lib/include/dp/dp.h:
lib/core_text.h:
lib/io_yaml.h:
