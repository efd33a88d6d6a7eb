build-cuda/obj/lib/io_traj.o: lib/io_traj.c /usr/include/cjson/cJSON.h \
 lib/include/dp/dp.h
/usr/include/cjson/cJSON.h:
lib/include/dp/dp.h:
