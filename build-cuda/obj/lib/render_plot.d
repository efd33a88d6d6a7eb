build-cuda/obj/lib/render_plot.o: lib/render_plot.c lib/include/dp/dp.h \
 lib/render_draw.h
lib/include/dp/dp.h:
lib/render_draw.h:
