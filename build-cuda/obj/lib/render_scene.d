build-cuda/obj/lib/render_scene.o: lib/render_scene.c lib/include/dp/dp.h \
 lib/render_draw.h
lib/include/dp/dp.h:
lib/render_draw.h:
