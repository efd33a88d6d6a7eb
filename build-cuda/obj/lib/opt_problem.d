build-cuda/obj/lib/opt_problem.o: lib/opt_problem.c lib/include/dp/dp.h
lib/include/dp/dp.h:
