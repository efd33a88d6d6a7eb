build-cuda/obj/lib/core_text.o: lib/core_text.c lib/core_text.h
lib/core_text.h:
