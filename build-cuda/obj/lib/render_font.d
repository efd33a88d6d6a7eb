build-cuda/obj/lib/render_font.o: lib/render_font.c lib/render_draw.h \
 lib/include/dp/dp.h
lib/render_draw.h:
lib/include/dp/dp.h:
