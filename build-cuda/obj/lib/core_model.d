build-cuda/obj/lib/core_model.o: lib/core_model.c lib/core_text.h \
 lib/include/dp/dp.h
lib/core_text.h:
lib/include/dp/dp.h:
