/* The SVG writer behind plot.h: fixed 720 x 400 canvas, axes scaled to each series'
 * range, five ticks per axis. */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define W 720.0
#define H 400.0
#define LEFT 70.0
#define RIGHT 70.0
#define TOP 40.0
#define BOTTOM 50.0

static void range(const double *v, uint32_t n, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (uint32_t i = 0; i < n; i++)
        if (v[i] >= 0) {
            *lo = v[i] < *lo ? v[i] : *lo;
            *hi = v[i] > *hi ? v[i] : *hi;
        }
    if (!(*hi > *lo)) { /* one value, or none: a band around it */
        double c = isfinite(*lo) ? *lo : 0;
        *lo = c - 0.5 * (fabs(c) + 1e-3);
        *hi = c + 0.5 * (fabs(c) + 1e-3);
    }
    double pad = (*hi - *lo) * 0.05;
    *lo -= pad;
    *hi += pad;
}

static double px(uint32_t i, uint32_t n)
{
    return LEFT + (n > 1 ? (double)i / (n - 1) : 0.5) * (W - LEFT - RIGHT);
}

static double py(double v, double lo, double hi)
{
    return TOP + (1 - (v - lo) / (hi - lo)) * (H - TOP - BOTTOM);
}

static void series(FILE *f, const double *v, uint32_t n, double lo, double hi, const char *color)
{
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (uint32_t i = 0; i < n; i++)
        if (v[i] >= 0)
            fprintf(f, "%.1f,%.1f ", px(i, n), py(v[i], lo, hi));
    fprintf(f, "\"/>\n");
}

int plot_epochs_svg(const char *path, const char *title, const double *loss, const double *ndcg, uint32_t n,
                    char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    double l0, l1, n0, n1;
    range(loss, n, &l0, &l1);
    range(ndcg, n, &n0, &n1);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">", W / 2);
    for (const char *c = title; *c; c++) /* the title is text: escape what XML reserves */
        fputs(*c == '<' ? "&lt;" : *c == '>' ? "&gt;" : *c == '&' ? "&amp;" : (char[2]){*c, 0}, f);
    fprintf(f, "</text>\n");
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", LEFT,
            TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
    for (int t = 0; t <= 4; t++) {
        double y = TOP + t * (H - TOP - BOTTOM) / 4;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", LEFT, y, W - RIGHT, y);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#c0392b\">%.3f</text>\n", LEFT - 6, y + 4,
                l1 - t * (l1 - l0) / 4);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" fill=\"#2471a3\">%.4f</text>\n", W - RIGHT + 6, y + 4,
                n1 - t * (n1 - n0) / 4);
    }
    for (int t = 0; t <= 4; t++) {
        uint32_t e = n > 1 ? (uint32_t)lround((double)t * (n - 1) / 4) : 0;
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%u</text>\n", px(e, n), H - BOTTOM + 18,
                e + 1);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">epoch</text>\n", W / 2, H - 12);
    fprintf(f, "<text x=\"16\" y=\"%.0f\" fill=\"#c0392b\" transform=\"rotate(-90 16 %.0f)\" "
               "text-anchor=\"middle\">training loss</text>\n",
            H / 2, H / 2);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#2471a3\" transform=\"rotate(90 %.0f %.0f)\" "
               "text-anchor=\"middle\">validation NDCG@10</text>\n",
            W - 14, H / 2, W - 14, H / 2);
    series(f, loss, n, l0, l1, "#c0392b");
    series(f, ndcg, n, n0, n1, "#2471a3");
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
