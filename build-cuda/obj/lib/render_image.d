build-cuda/obj/lib/render_image.o: lib/render_image.c \
 /usr/include/libpng16/png.h /usr/include/libpng16/pnglibconf.h \
 /usr/include/libpng16/pngconf.h lib/include/dp/dp.h
/usr/include/libpng16/png.h:
/usr/include/libpng16/pnglibconf.h:
/usr/include/libpng16/pngconf.h:
lib/include/dp/dp.h:
