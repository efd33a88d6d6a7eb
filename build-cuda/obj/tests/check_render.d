build-cuda/obj/tests/check_render.o: tests/check_render.c \
 /usr/include/libpng16/png.h /usr/include/libpng16/pnglibconf.h \
 /usr/include/libpng16/pngconf.h tests/check_suites.h lib/include/dp/dp.h \
 lib/render_draw.h tests/testutil.h
/usr/include/libpng16/png.h:
/usr/include/libpng16/pnglibconf.h:
/usr/include/libpng16/pngconf.h:
tests/check_suites.h:
lib/include/dp/dp.h:
lib/render_draw.h:
tests/testutil.h:
