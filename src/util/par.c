/* par_run: the calling thread is not one of the workers, so that fn's thread count is
 * exactly what was asked for (OpenBLAS calls in between keep their own). */
#include "par.h"

#include <pthread.h>
#include <unistd.h>

int par_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void par_run(int threads, void *(*fn)(void *), void *arg)
{
    int n = threads > 0 ? threads : par_cpus();
    if (n > 64)
        n = 64;
    pthread_t th[64];
    int started = 0;
    for (; started < n; started++)
        if (pthread_create(&th[started], NULL, fn, arg) != 0)
            break;
    if (!started)
        fn(arg);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}
