/* The advisor's chart, written as plain SVG text: bars for cost per 100,000 inferences (left
 * axis), a line for P90 latency (right axis), a legend of families. No library: the figure
 * is a few dozen elements, and a text format keeps it diffable and testable. */
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static const char *const g_palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
#define N_PALETTE (int)(sizeof g_palette / sizeof g_palette[0])
#define MAX_FAMILIES 32

/* Text in an SVG element: escape what XML reserves. */
static void xml(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A step of 1, 2 or 5 times a power of ten giving about `ticks` intervals up to max. */
static double nice_step(double max, int ticks)
{
    if (!(max > 0))
        return 1;
    double raw = max / ticks, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static int family_index(char fams[][48], int *nf, const char *fam)
{
    for (int i = 0; i < *nf; i++)
        if (strcmp(fams[i], fam) == 0)
            return i;
    if (*nf == MAX_FAMILIES)
        return MAX_FAMILIES - 1;
    snprintf(fams[*nf], 48, "%s", fam);
    return (*nf)++;
}

/* The latency the line shows: P90, or the mean for a row measured without it. */
static double line_ms(const tt_adv_row *r) { return r->p90_ms >= 0 ? r->p90_ms : r->mean_ms; }

void tt_adv_svg(FILE *f, const tt_adv_row *rows, int n, const tt_adv_result *res, const tt_adv_constraints *c)
{
    int shown = 0;
    double max_cost = 0, max_p90 = c->max_p90_ms > 0 ? c->max_p90_ms : 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].cost_per_100k < 0)
            continue;
        shown++;
        max_cost = fmax(max_cost, rows[i].cost_per_100k);
        max_p90 = fmax(max_p90, line_ms(&rows[i]));
    }
    const double left = 110, right = 80, top = 70, bottom = 130, plot_h = 300, slot = 64;
    double plot_w = fmax(480, shown * slot);
    double width = left + plot_w + right, height = top + plot_h + bottom;
    double cstep = nice_step(max_cost, 5), lstep = nice_step(max_p90, 5);
    double cmax = fmax(cstep, ceil(max_cost / cstep - 1e-9) * cstep);
    double lmax = fmax(lstep, ceil(max_p90 / lstep - 1e-9) * lstep);
    double bw = plot_w / (shown ? shown : 1);
#define Y_COST(v) (top + plot_h - (v) / cmax * plot_h)
#define Y_LAT(v) (top + plot_h - (v) / lmax * plot_h)

    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<title>Cost per 100,000 inferences and P90 latency</title>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%.0f\" y=\"24\" font-size=\"16\" font-weight=\"bold\">Cost per 100,000 inferences (bars) "
            "and P90 latency (line)</text>\n",
            width, height, width, height, left);

    /* Axes and grid. */
    fprintf(f, "<g class=\"axes\" stroke=\"#999\" stroke-width=\"1\">\n");
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, top, left, top + plot_h);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left + plot_w, top, left + plot_w,
            top + plot_h);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, top + plot_h, left + plot_w,
            top + plot_h);
    fprintf(f, "</g>\n<g class=\"cost-ticks\" text-anchor=\"end\">\n");
    for (double v = 0; v <= cmax * (1 + 1e-9); v += cstep) {
        double y = Y_COST(v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", left, y, left + plot_w,
                y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">$%.4g</text>\n", left - 6, y + 4, v);
    }
    fprintf(f, "</g>\n<g class=\"latency-ticks\">\n");
    for (double v = 0; v <= lmax * (1 + 1e-9); v += lstep)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%.4g ms</text>\n", left + plot_w + 6, Y_LAT(v) + 4, v);
    fprintf(f, "</g>\n");
    fprintf(f,
            "<text x=\"18\" y=\"%.1f\" transform=\"rotate(-90 18 %.1f)\" text-anchor=\"middle\">USD per 100,000 "
            "inferences</text>\n",
            top + plot_h / 2, top + plot_h / 2);
    fprintf(f,
            "<text x=\"%.1f\" y=\"%.1f\" transform=\"rotate(90 %.1f %.1f)\" text-anchor=\"middle\">P90 latency "
            "(ms)</text>\n",
            width - 14, top + plot_h / 2, width - 14, top + plot_h / 2);

    /* Bars, one per priced row, coloured by family; rows missing a constraint are faded. */
    char fams[MAX_FAMILIES][48];
    int nf = 0, k = 0;
    fprintf(f, "<g class=\"bars\">\n");
    for (int i = 0; i < n; i++) {
        const tt_adv_row *r = &rows[i];
        if (r->cost_per_100k < 0)
            continue;
        int fi = family_index(fams, &nf, r->family);
        double x = left + k * bw + bw * 0.15, w = bw * 0.7, y = Y_COST(r->cost_per_100k);
        char label[112];
        snprintf(label, sizeof label, "%s%s%s", r->host[0] ? r->host : "?", r->accelerator[0] ? " + " : "",
                 r->accelerator);
        fprintf(f, "<rect class=\"bar\" data-family=\"");
        xml(f, r->family);
        fprintf(f, "\" data-cost=\"%.6g\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"%s%s>",
                r->cost_per_100k, x, y, w, top + plot_h - y, g_palette[fi % N_PALETTE],
                r->meets ? "" : " fill-opacity=\"0.4\"",
                i == res->recommended ? " stroke=\"#000\" stroke-width=\"2.5\"" : "");
        fprintf(f, "<title>");
        xml(f, label);
        if (r->p90_ms >= 0)
            fprintf(f, ": $%.4f per 100k, p90 %.3g ms", r->cost_per_100k, r->p90_ms);
        else
            fprintf(f, ": $%.4f per 100k, mean %.3g ms (no p90 measured)", r->cost_per_100k, r->mean_ms);
        if (!r->meets) {
            fprintf(f, " (");
            xml(f, r->why_not); /* the fade alone does not say why */
            fprintf(f, ")");
        }
        fprintf(f, "</title></rect>\n");
        double cx = x + w / 2, ly = top + plot_h + 12;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" transform=\"rotate(-40 %.1f %.1f)\">", cx, ly, cx,
                ly);
        xml(f, label);
        fprintf(f, "</text>\n");
        if (i == res->recommended)
            fprintf(f,
                    "<text class=\"recommended\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                    "font-weight=\"bold\">&#9733; recommended</text>\n",
                    cx, y - 6);
        k++;
    }
    fprintf(f, "</g>\n");

    /* The latency limit, on the latency axis. */
    if (c->max_p90_ms > 0) {
        double y = Y_LAT(c->max_p90_ms);
        fprintf(f,
                "<g class=\"limit\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" "
                "stroke-dasharray=\"6 4\"/><text x=\"%.1f\" y=\"%.1f\" fill=\"#d62728\" text-anchor=\"end\">p90 limit "
                "%.4g ms</text></g>\n",
                left, y, left + plot_w, y, left + plot_w - 4, y - 4, c->max_p90_ms);
    }

    /* P90 latency: a line over the bar centres. */
    fprintf(f, "<g class=\"p90\"><polyline fill=\"none\" stroke=\"#222\" stroke-width=\"2\" points=\"");
    k = 0;
    for (int i = 0; i < n; i++)
        if (rows[i].cost_per_100k >= 0) {
            fprintf(f, "%s%.1f,%.1f", k ? " " : "", left + k * bw + bw / 2, Y_LAT(line_ms(&rows[i])));
            k++;
        }
    fprintf(f, "\"/>\n");
    k = 0;
    for (int i = 0; i < n; i++)
        if (rows[i].cost_per_100k >= 0) {
            fprintf(f,
                    "<circle class=\"p90-point\" data-p90=\"%.6g\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#222\"/>\n",
                    line_ms(&rows[i]), left + k * bw + bw / 2, Y_LAT(line_ms(&rows[i])));
            k++;
        }
    fprintf(f, "</g>\n");

    /* Legend: families, then the line. */
    fprintf(f, "<g class=\"legend\">\n");
    double lx = left;
    for (int i = 0; i < nf; i++) {
        fprintf(f, "<rect x=\"%.1f\" y=\"38\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%.1f\" y=\"48\">", lx,
                g_palette[i % N_PALETTE], lx + 16);
        xml(f, fams[i]);
        fprintf(f, "</text>\n");
        lx += 24 + 8 * (double)strlen(fams[i]);
    }
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"44\" x2=\"%.1f\" y2=\"44\" stroke=\"#222\" stroke-width=\"2\"/><text x=\"%.1f\" "
            "y=\"48\">P90 latency</text>\n",
            lx, lx + 18, lx + 22);
    fprintf(f, "</g>\n");
    if (!shown)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no priced rows to chart</text>\n",
                left + plot_w / 2, top + plot_h / 2);
    fprintf(f, "</svg>\n");
#undef Y_COST
#undef Y_LAT
}

tt_status tt_adv_svg_write(const char *path, const tt_adv_row *rows, int n, const tt_adv_result *res,
                           const tt_adv_constraints *c)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return tt_error(TETHER_ERR_IO, "cannot write the chart to '%s': %s", path, strerror(errno));
    tt_adv_svg(f, rows, n, res, c);
    if (ferror(f) | (fclose(f) != 0))
        return tt_error(TETHER_ERR_IO, "writing the chart to '%s' failed", path);
    return TT_OK;
}
