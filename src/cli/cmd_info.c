/* tether info: what a model is — inputs and outputs with shapes, opsets, an op histogram,
 * parameter count and bytes, and FLOPs per inference at batch 1 — and, for a local target,
 * the graph tether runs after its passes with the backend each node is placed on. */
#include "cli.h"

#include "backends/backend.h"
#include "model/model.h"
#include "runtime/session.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

typedef struct op_count {
    const char *name;
    int n;
} op_count;

static void count_ops(const tt_graph *g, op_count **ops, int *n, int *cap)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *nd = &g->nodes[i];
        int k = 0;
        while (k < *n && strcmp((*ops)[k].name, nd->op_type) != 0)
            k++;
        if (k == *n) {
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 32;
                *ops = realloc(*ops, sizeof(op_count) * (size_t)*cap);
            }
            (*ops)[(*n)++] = (op_count){nd->op_type, 0};
        }
        (*ops)[k].n++;
        for (int a = 0; a < nd->n_attrs; a++) {
            if (nd->attrs[a].type == TT_ATTR_GRAPH)
                count_ops(nd->attrs[a].g, ops, n, cap);
            for (size_t j = 0; nd->attrs[a].type == TT_ATTR_GRAPHS && j < nd->attrs[a].n; j++)
                count_ops(nd->attrs[a].graphs[j], ops, n, cap);
        }
    }
}

static int by_count(const void *a, const void *b)
{
    const op_count *x = a, *y = b;
    return x->n != y->n ? y->n - x->n : strcmp(x->name, y->name);
}

static const char *human(double v, char *buf, size_t n, const char *unit, double base)
{
    static const char *pre[] = {"", "K", "M", "G", "T", "P"};
    int i = 0;
    while (v >= base && i < 5) {
        v /= base;
        i++;
    }
    snprintf(buf, n, i ? "%.2f %s%s" : "%.0f %s%s", v, pre[i], unit);
    return buf;
}

static void type_text(const tt_model *m, const tether_value_info *info, char *buf, size_t n)
{
    if (info->dtype == TETHER_DTYPE_UNDEFINED) {
        snprintf(buf, n, "(not a tensor)");
        return;
    }
    size_t o = (size_t)snprintf(buf, n, "%s", tether_dtype_name(info->dtype));
    if (info->rank < 0) {
        snprintf(buf + o, n - o, "[?]");
        return;
    }
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < info->rank && o < n; i++) {
        if (info->dims[i] >= 0)
            o += (size_t)snprintf(buf + o, n - o, i ? ",%lld" : "%lld", (long long)info->dims[i]);
        else
            o += (size_t)snprintf(buf + o, n - o, i ? ",%s" : "%s", info->dim_names[i] ? info->dim_names[i] : "?");
    }
    if (o < n)
        snprintf(buf + o, n - o, "]");
    (void)m;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tether info MODEL.onnx [--target T] [--nodes] [--json]\n\n"
               "Describes a model: inputs and outputs with shapes, opsets, op histogram,\n"
               "parameter count and bytes, and estimated FLOPs per inference (unnamed or\n"
               "symbolic dimensions taken as 1); then where it runs on a local target: the\n"
               "ops of the graph after tether's passes, per backend.\n\n"
               "  --target T   local target to place the model on: cpu (default), ref, cuda:N,\n"
               "               or a list of backends such as cpu,ref\n"
               "  --nodes      list every node with its op and backend\n"
               "  --json       one JSON object instead of text\n");
}

/* Per backend of the session, the ops it runs in the rewritten top graph. */
static void placement(const tt_graph *g, const tt_backend_list *bl, bool nodes, cJSON *json)
{
    cJSON *pb = json ? cJSON_AddObjectToObject(json, "backends") : NULL;
    for (int b = 0; b < bl->n; b++) {
        op_count *ops = NULL;
        int n = 0, cap = 0, total = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const tt_node *nd = &g->nodes[i];
            if (nd->backend != bl->b[b])
                continue;
            total++;
            int k = 0;
            while (k < n && strcmp(ops[k].name, nd->op_type) != 0)
                k++;
            if (k == n) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    ops = realloc(ops, sizeof *ops * (size_t)cap);
                }
                ops[n++] = (op_count){nd->op_type, 0};
            }
            ops[k].n++;
        }
        qsort(ops, (size_t)n, sizeof *ops, by_count);
        if (pb) {
            cJSON *o = cJSON_AddObjectToObject(pb, bl->b[b]->name);
            for (int i = 0; i < n; i++)
                cJSON_AddNumberToObject(o, ops[i].name, ops[i].n);
        } else if (total) {
            printf("  %-8s %d node%s:", bl->b[b]->name, total, total == 1 ? "" : "s");
            for (int i = 0; i < n; i++) {
                if (ops[i].n > 1)
                    printf(" %s x%d", tt_cli_esc(ops[i].name), ops[i].n);
                else
                    printf(" %s", tt_cli_esc(ops[i].name));
            }
            printf("\n");
        }
        free(ops);
    }
    if (!nodes)
        return;
    cJSON *arr = json ? cJSON_AddArrayToObject(json, "nodes") : NULL;
    if (!json)
        printf("nodes:\n");
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *nd = &g->nodes[i];
        if (arr) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", nd->name);
            cJSON_AddStringToObject(o, "op", nd->op_type);
            cJSON_AddStringToObject(o, "domain", *nd->domain ? nd->domain : "ai.onnx");
            cJSON_AddStringToObject(o, "backend", nd->backend->name);
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("  %4d  %-32s %-24s %s\n", i, tt_cli_esc(nd->name), tt_cli_esc(nd->op_type), nd->backend->name);
        }
    }
}

int tt_cmd_info(int argc, char **argv)
{
    bool json = false, nodes_list = false;
    const char *path = NULL, *target = "cpu";
    for (int i = 1; i < argc; i++) {
        if (tt_cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--nodes") == 0) {
            nodes_list = true;
        } else if (strcmp(argv[i], "--target") == 0) {
            if (i + 1 >= argc)
                return tt_cli_usage("info", "--target needs a target (cpu, ref, cuda:N, or a list like cpu,ref)");
            target = argv[++i];
        } else if (!path && argv[i][0] != '-') {
            path = argv[i];
        } else if (argv[i][0] == '-') {
            return tt_cli_usage("info", "unknown option '%s'", argv[i]);
        } else {
            return tt_cli_usage("info", "one model at a time ('%s' is extra)", argv[i]);
        }
    }
    if (!path)
        return tt_cli_usage("info", "no model given");
    tt_model *m;
    tether_status rc = tt_model_load_file(path, &m);
    if (rc != TETHER_OK)
        return tt_cli_fail_last("info", rc);
    op_count *ops = NULL;
    int nops = 0, cap = 0, nodes = 0;
    count_ops(m->graph, &ops, &nops, &cap);
    for (int i = 0; i < nops; i++)
        nodes += ops[i].n;
    qsort(ops, (size_t)nops, sizeof *ops, by_count);
    /* the session owns m from here; opsets and op names stay valid while it is open */
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.target = target;
    tether_session *s;
    if ((rc = tt_local_open(m, &cfg, &s)) != TETHER_OK) {
        free(ops);
        return tt_cli_fail_st("info", rc, "%s: %s", path, tether_last_error());
    }
    tether_session_stats st;
    tether_session_stats_get(s, &st);
    char buf[256], b2[64], b3[64];
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", path);
        cJSON_AddNumberToObject(o, "ir_version", (double)m->ir_version);
        cJSON_AddStringToObject(o, "producer", m->producer_name);
        cJSON_AddStringToObject(o, "producer_version", m->producer_version);
        cJSON *os = cJSON_AddObjectToObject(o, "opsets");
        for (int i = 0; i < m->n_opsets; i++)
            cJSON_AddNumberToObject(os, *m->opsets[i].domain ? m->opsets[i].domain : "ai.onnx",
                                    (double)m->opsets[i].version);
        for (int pass = 0; pass < 2; pass++) {
            cJSON *arr = cJSON_AddArrayToObject(o, pass ? "outputs" : "inputs");
            size_t n = pass ? tether_session_output_count(s) : tether_session_input_count(s);
            for (size_t i = 0; i < n; i++) {
                tether_value_info info;
                (pass ? tether_session_output_info : tether_session_input_info)(s, i, &info);
                cJSON *v = cJSON_CreateObject();
                cJSON_AddStringToObject(v, "name", info.name);
                cJSON_AddStringToObject(v, "dtype", tether_dtype_name(info.dtype));
                cJSON *shape = cJSON_AddArrayToObject(v, "shape");
                for (int d = 0; d < info.rank; d++)
                    cJSON_AddItemToArray(shape, info.dims[d] >= 0 ? cJSON_CreateNumber((double)info.dims[d])
                                                                  : cJSON_CreateString(info.dim_names[d] ? info.dim_names[d] : "?"));
                cJSON_AddItemToArray(arr, v);
            }
        }
        cJSON *h = cJSON_AddObjectToObject(o, "ops");
        for (int i = 0; i < nops; i++)
            cJSON_AddNumberToObject(h, ops[i].name, ops[i].n);
        cJSON_AddNumberToObject(o, "nodes", nodes);
        cJSON_AddNumberToObject(o, "parameters", (double)st.parameters);
        cJSON_AddNumberToObject(o, "weight_bytes", (double)st.weight_bytes);
        cJSON_AddNumberToObject(o, "activation_bytes", (double)st.activation_bytes);
        cJSON_AddNumberToObject(o, "flops", (double)st.flops);
        cJSON *pl = cJSON_AddObjectToObject(o, "placement");
        cJSON_AddStringToObject(pl, "target", target);
        cJSON_AddNumberToObject(pl, "nodes", m->graph->n_nodes);
        placement(m->graph, &tt_session_local(s)->backends, nodes_list, pl);
        char *txt = cJSON_Print(o);
        puts(txt);
        free(txt);
        cJSON_Delete(o);
    } else {
        printf("model:       %s\n", tt_cli_esc(path));
        printf("producer:    %s %s (ir_version %lld)\n", *m->producer_name ? tt_cli_esc(m->producer_name) : "(unknown)",
               tt_cli_esc(m->producer_version), (long long)m->ir_version);
        printf("opsets:     ");
        for (int i = 0; i < m->n_opsets; i++)
            printf(" %s %lld", *m->opsets[i].domain ? tt_cli_esc(m->opsets[i].domain) : "ai.onnx", (long long)m->opsets[i].version);
        printf("\ninputs:\n");
        for (size_t i = 0; i < tether_session_input_count(s); i++) {
            tether_value_info info;
            tether_session_input_info(s, i, &info);
            type_text(m, &info, buf, sizeof buf);
            printf("  %-24s %s\n", tt_cli_esc(info.name), buf);
        }
        printf("outputs:\n");
        for (size_t i = 0; i < tether_session_output_count(s); i++) {
            tether_value_info info;
            tether_session_output_info(s, i, &info);
            type_text(m, &info, buf, sizeof buf);
            printf("  %-24s %s\n", tt_cli_esc(info.name), buf);
        }
        printf("parameters:  %s (%s of weights)\n", human((double)st.parameters, b2, sizeof b2, "", 1000),
               human((double)st.weight_bytes, b3, sizeof b3, "B", 1024));
        printf("activations: %s planned per run\n", human((double)st.activation_bytes, b2, sizeof b2, "B", 1024));
        printf("FLOPs:       %s per inference (symbolic dims = 1)\n", human((double)st.flops, b2, sizeof b2, "FLOP", 1000));
        printf("ops:         %d nodes\n", nodes);
        for (int i = 0; i < nops; i++)
            printf("  %-24s %d\n", tt_cli_esc(ops[i].name), ops[i].n);
        printf("placement:   %d nodes after tether's passes on target %s\n", m->graph->n_nodes, tt_cli_esc(target));
        placement(m->graph, &tt_session_local(s)->backends, nodes_list, NULL);
    }
    free(ops);
    tether_session_free(s);
    return 0;
}
