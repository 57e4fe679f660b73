/* Running one function on several threads at once, for the trainers' loops that share
 * their work through an atomic counter in arg. */
#ifndef AISLE_PAR_H
#define AISLE_PAR_H

/* Runs fn(arg) on `threads` threads (0: one per CPU; at most 64) and waits for them all.
 * Threads that cannot be started are done without: at least one run always happens. */
void par_run(int threads, void *(*fn)(void *), void *arg);
/* The number of CPUs online (at least 1). */
int par_cpus(void);

#endif
