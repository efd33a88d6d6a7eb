build-cuda/obj/lib/io_yaml_emit.o: lib/io_yaml_emit.c lib/io_yaml.h \
 lib/include/dp/dp.h
lib/io_yaml.h:
lib/include/dp/dp.h:
