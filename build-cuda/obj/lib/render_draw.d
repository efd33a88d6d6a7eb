build-cuda/obj/lib/render_draw.o: lib/render_draw.c lib/render_draw.h \
 lib/include/dp/dp.h
lib/render_draw.h:
lib/include/dp/dp.h:
