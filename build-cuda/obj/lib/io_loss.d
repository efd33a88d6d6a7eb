build-cuda/obj/lib/io_loss.o: lib/io_loss.c /usr/include/cjson/cJSON.h \
 lib/core_text.h lib/loss.h lib/include/dp/dp.h
/usr/include/cjson/cJSON.h:
lib/core_text.h:
lib/loss.h:
lib/include/dp/dp.h:
