/* Training curves as SVG, for the eval report: a self-contained file any browser shows,
 * written without a plotting library (a polyline per series and labelled axes). */
#ifndef AISLE_PLOT_H
#define AISLE_PLOT_H

#include <stddef.h>
#include <stdint.h>

#define PLOT_MAX 10000 /* epochs at most */

/* Writes loss (left axis) and validation NDCG@10 (right axis; values < 0 are left out)
 * by epoch 1..n to path. Returns 0, or -1 with err. */
int plot_epochs_svg(const char *path, const char *title, const double *loss, const double *ndcg, uint32_t n,
                    char *err, size_t errlen);

#endif
