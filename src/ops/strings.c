/* String ops added in opset 20: StringConcat (numpy broadcasting), StringSplit (Python's
 * str.split, padded to the longest split) and RegexFullMatch (RE2 patterns through the C
 * library's extended regular expressions, compiled once at load; constructs they lack are
 * refused at load). */
#include "ops/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <regex.h>
#include <stdlib.h>

/* Offsets into a and b of output element i of their broadcast (numpy rules) of rank r. */
typedef struct bcast2 {
    int r;
    int64_t dims[TT_MAX_RANK], sa[TT_MAX_RANK], sb[TT_MAX_RANK];
} bcast2;

static void bcast2_init(bcast2 *g, const tt_tensor *a, const tt_tensor *b, const tt_tensor *y)
{
    g->r = y->rank;
    int64_t ma = 1, mb = 1;
    for (int d = y->rank - 1; d >= 0; d--) {
        int ia = d - (y->rank - a->rank), ib = d - (y->rank - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        g->dims[d] = y->dims[d];
        g->sa[d] = da == 1 ? 0 : ma;
        g->sb[d] = db == 1 ? 0 : mb;
        ma *= da, mb *= db;
    }
}

static void bcast2_at(const bcast2 *g, int64_t i, int64_t *oa, int64_t *ob)
{
    *oa = *ob = 0;
    for (int d = g->r - 1; d >= 0; d--) {
        int64_t k = i % g->dims[d];
        i /= g->dims[d];
        *oa += k * g->sa[d];
        *ob += k * g->sb[d];
    }
}

static const char *str_at(const tt_tensor *t, int64_t i)
{
    const char *s = ((char *const *)t->data)[i];
    return s ? s : "";
}

/* ---- StringConcat --------------------------------------------------------------------------- */

static tt_status infer_concat(tt_ictx *c)
{
    TT_TRY(tt_infer_check_dtype(c, 0, TT_DT(TETHER_DTYPE_STRING)));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_STRING)));
    int r = 0;
    int64_t dims[TT_MAX_RANK];
    TT_TRY(tt_infer_broadcast(c, 0, 2, &r, dims));
    tt_infer_tensor(c, 0, TETHER_DTYPE_STRING, r, dims);
    return TT_OK;
}

static tt_status run_concat(tt_kctx *c)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    bcast2 g;
    bcast2_init(&g, a, b, y);
    int64_t n = tt_tensor_numel(y);
    for (int64_t i = 0; i < n; i++) {
        int64_t oa, ob;
        bcast2_at(&g, i, &oa, &ob);
        const char *sa = str_at(a, oa), *sb = str_at(b, ob);
        size_t la = strlen(sa), lb = strlen(sb);
        char *buf = tt_malloc(la + lb + 1);
        if (!buf)
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", c->node->name);
        memcpy(buf, sa, la);
        memcpy(buf + la, sb, lb);
        tt_status s = tt_tensor_set_string(y, i, buf, la + lb);
        tt_free(buf);
        TT_TRY(s);
    }
    return TT_OK;
}

/* ---- StringSplit ------------------------------------------------------------------------------ */

/* Splits s the way Python's str.split(sep, maxsplit) does (sep "" is None: runs of
 * whitespace, ends stripped). Calls add(piece) for each piece unless add is NULL; returns
 * the number of pieces. */
typedef struct piece_sink {
    tt_tensor *y;
    int64_t base, k;
    tt_status s;
} piece_sink;

static void sink_add(piece_sink *p, const char *s, size_t n)
{
    if (p->y && p->s == TT_OK)
        p->s = tt_tensor_set_string(p->y, p->base + p->k, s, n);
    p->k++;
}

static int64_t py_split(const char *s, const char *sep, int64_t maxsplit, piece_sink *out)
{
    size_t n = strlen(s), i = 0;
    out->k = 0;
    if (!*sep) {
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        for (int64_t splits = 0; i < n; splits++) {
            if (maxsplit >= 0 && splits == maxsplit) { /* the rest, trailing spaces and all */
                sink_add(out, s + i, n - i);
                break;
            }
            size_t j = i;
            while (j < n && !isspace((unsigned char)s[j]))
                j++;
            sink_add(out, s + i, j - i);
            i = j;
            while (i < n && isspace((unsigned char)s[i]))
                i++;
        }
        return out->k;
    }
    size_t ls = strlen(sep);
    for (int64_t splits = 0;; splits++) {
        const char *hit = maxsplit >= 0 && splits == maxsplit ? NULL : strstr(s + i, sep);
        if (!hit) {
            sink_add(out, s + i, n - i);
            break;
        }
        sink_add(out, s + i, (size_t)(hit - (s + i)));
        i = (size_t)(hit - s) + ls;
    }
    return out->k;
}

static tt_status infer_split(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_check_dtype(c, 0, TT_DT(TETHER_DTYPE_STRING)));
    if (x->rank >= TT_MAX_RANK)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "the output's rank would pass %d", TT_MAX_RANK);
    tt_infer_tensor(c, 0, TETHER_DTYPE_STRING, x->rank < 0 ? -1 : x->rank + 1, NULL);
    tt_infer_tensor(c, 1, TETHER_DTYPE_INT64, x->rank, x->dims);
    return TT_OK;
}

static tt_status run_split(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    const char *sep = tt_attr_string(c->node, "delimiter", "");
    int64_t maxsplit = tt_node_attr(c->node, "maxsplit") ? tt_attr_int(c->node, "maxsplit", -1) : -1;
    if (maxsplit < -1)
        maxsplit = -1;
    int64_t n = tt_tensor_numel(x), widest = 0;
    tt_tensor *z = tt_kout(c, 1);
    for (int64_t i = 0; i < n; i++) {
        piece_sink p = {0};
        int64_t k = py_split(str_at(x, i), sep, maxsplit, &p);
        if (z)
            ((int64_t *)z->data)[i] = k;
        if (k > widest)
            widest = k;
    }
    int64_t dims[TT_MAX_RANK];
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    dims[x->rank] = widest;
    tt_tensor *y;
    TT_TRY(tt_kctx_alloc(c, 0, TETHER_DTYPE_STRING, x->rank + 1, dims, &y));
    for (int64_t i = 0; i < n; i++) { /* the rest of each row stays "" */
        piece_sink p = {.y = y, .base = i * widest};
        py_split(str_at(x, i), sep, maxsplit, &p);
        TT_TRY(p.s);
    }
    return TT_OK;
}

/* ---- RegexFullMatch ----------------------------------------------------------------------------- */

typedef struct re_state {
    regex_t re;
    bool compiled;
} re_state;

static void re_release(void *st)
{
    re_state *r = st;
    if (r && r->compiled)
        regfree(&r->re);
    tt_free(r);
}

/* RE2 to POSIX extended syntax (with the GNU escapes \w \W \s \S \b \B that glibc reads
 * outside brackets): the whole pattern anchored, (?: groups made plain, \d \D spelled as
 * classes, escapes inside brackets as POSIX classes or plain characters (an escaped '-'
 * moved last). Lazy or possessive quantifiers, look-arounds and flags are refused. */
static tt_status re_translate(const tt_node *n, const char *p, char *out, size_t cap)
{
    size_t o = 0;
#define PUT(str)                                                                                                       \
    do {                                                                                                               \
        size_t l_ = strlen(str);                                                                                       \
        if (o + l_ + 3 > cap)                                                                                          \
            return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "pattern is longer than %zu bytes", cap / 2);                \
        memcpy(out + o, str, l_);                                                                                      \
        o += l_;                                                                                                       \
    } while (0)
    PUT("^(");
    for (const char *q = p; *q; q++) {
        char one[3] = {*q, 0, 0};
        if (*q == '[') { /* a bracket expression, to its closing ']' */
            bool dash = false;
            PUT("[");
            q++;
            if (*q == '^') {
                PUT("^");
                q++;
            }
            for (bool first = true; *q && (*q != ']' || first); q++, first = false) {
                if (*q == '[' && q[1] == ':') { /* a POSIX class as is */
                    const char *e = strstr(q, ":]");
                    if (!e)
                        break;
                    char cls[64];
                    size_t l = (size_t)(e + 2 - q);
                    if (l >= sizeof cls)
                        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "bad character class in pattern");
                    memcpy(cls, q, l);
                    cls[l] = 0;
                    PUT(cls);
                    q = e + 1;
                    continue;
                }
                if (*q != '\\' || !q[1]) {
                    one[0] = *q;
                    PUT(one);
                    continue;
                }
                q++;
                switch (*q) {
                case 'w': PUT("[:alnum:]_"); break;
                case 's': PUT("[:space:]"); break;
                case 'd': PUT("0-9"); break;
                case '-': dash = true; break;
                case 'W':
                case 'S':
                case 'D':
                case ']':
                case '^':
                    return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "pattern escape \\%c inside brackets is not supported",
                                       *q);
                default:
                    one[0] = *q;
                    PUT(one);
                }
            }
            if (*q != ']')
                return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "pattern \"%.100s\" has an unclosed '['", p);
            PUT(dash ? "-]" : "]");
            continue;
        }
        if (*q == '\\' && q[1]) {
            q++;
            if (*q == 'd')
                PUT("[0-9]");
            else if (*q == 'D')
                PUT("[^0-9]");
            else if (strchr("AzpPQEhHvVC", *q) || isdigit((unsigned char)*q))
                return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "pattern escape \\%c is not supported", *q);
            else {
                one[0] = '\\', one[1] = *q;
                PUT(one);
            }
            continue;
        }
        if (*q == '(' && q[1] == '?') {
            if (q[2] != ':')
                return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "pattern group \"(?%c\" is not supported", q[2]);
            PUT("(");
            q += 2;
            continue;
        }
        if ((*q == '?' || *q == '+') && q > p && strchr("*+?}", q[-1]) && !(q - 1 > p && q[-2] == '\\'))
            return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "lazy or possessive quantifiers are not supported");
        PUT(one);
    }
    PUT(")$");
#undef PUT
    out[o] = 0;
    return TT_OK;
}

static tt_status parse_regex(tt_node *n, void **state)
{
    const char *p = tt_attr_string(n, "pattern", NULL);
    if (!p)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute 'pattern' is required");
    re_state *r = tt_calloc(1, sizeof *r);
    if (!r)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    *state = r;
    char buf[4096];
    TT_TRY(re_translate(n, p, buf, sizeof buf));
    int rc = regcomp(&r->re, buf, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[200];
        regerror(rc, &r->re, msg, sizeof msg);
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "pattern \"%.100s\": %s", p, msg);
    }
    r->compiled = true;
    return TT_OK;
}

static tt_status infer_regex(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_check_dtype(c, 0, TT_DT(TETHER_DTYPE_STRING)));
    tt_infer_tensor(c, 0, TETHER_DTYPE_BOOL, x->rank, x->dims);
    return TT_OK;
}

static tt_status run_regex(tt_kctx *c)
{
    const re_state *r = c->state;
    const tt_tensor *x = tt_kin(c, 0);
    uint8_t *y = tt_kout(c, 0)->data;
    int64_t n = tt_tensor_numel(x);
    for (int64_t i = 0; i < n; i++)
        y[i] = regexec(&r->re, str_at(x, i), 0, NULL, 0) == 0;
    return TT_OK;
}

#define STR (TT_DT(TETHER_DTYPE_STRING))

const tt_op_schema tt_schemas_strings[] = {
    TT_SCHEMA("StringConcat", 20, 0, infer_concat),
    TT_SCHEMA("StringSplit", 20, 0, infer_split),
    TT_SCHEMA("RegexFullMatch", 20, 0, infer_regex, .parse = parse_regex, .release = re_release),
    TT_SCHEMA_END,
};

const tt_kernel tt_ref_strings[] = {
    TT_KERNEL("StringConcat", 20, 0, STR, run_concat),
    TT_KERNEL("StringSplit", 20, 0, STR, run_split),
    TT_KERNEL("RegexFullMatch", 20, 0, STR, run_regex),
    TT_KERNEL_END,
};
