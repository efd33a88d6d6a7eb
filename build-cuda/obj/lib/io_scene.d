build-cuda/obj/lib/io_scene.o: lib/io_scene.c lib/include/dp/dp.h \
 lib/core_text.h lib/io_scene.h lib/io_yaml.h
lib/include/dp/dp.h:
lib/core_text.h:
lib/io_scene.h:
lib/io_yaml.h:
