build-cuda/obj/lib/io_npz.o: lib/io_npz.c lib/include/dp/dp.h
lib/include/dp/dp.h:
