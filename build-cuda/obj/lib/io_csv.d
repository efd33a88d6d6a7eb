build-cuda/obj/lib/io_csv.o: lib/io_csv.c lib/include/dp/dp.h
lib/include/dp/dp.h:
