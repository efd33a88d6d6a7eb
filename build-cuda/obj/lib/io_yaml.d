build-cuda/obj/lib/io_yaml.o: lib/io_yaml.c lib/io_yaml.h \
 lib/include/dp/dp.h lib/core_text.h
lib/io_yaml.h:
lib/include/dp/dp.h:
lib/core_text.h:
