/* Just enough CSV for price files and benchmark tables: fields split in place, quotes
 * honoured, a header looked up by name so columns may come in any order. */
#include "csv.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

int tt_csv_split(char *line, char **fields)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == TT_CSV_MAX_FIELDS)
            return -1;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '"') {
            /* Quoted: copy over the quotes in place, "" becomes one quote. */
            char *w = ++p, *start = w;
            for (;;) {
                if (!*p)
                    return -1;
                if (*p == '"') {
                    if (p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            while (*p && *p != ',')
                p++; /* anything between the closing quote and the comma is dropped */
            int last = *p != ',';
            *w = 0;
            fields[n++] = start;
            if (last)
                return n;
            p++;
        } else {
            char *start = p;
            while (*p && *p != ',')
                p++;
            int last = *p != ',';
            *p = 0;
            fields[n++] = trim(start);
            if (last)
                return n;
            p++;
        }
    }
}

int tt_csv_column(char *const *header, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcasecmp(header[i], name) == 0)
            return i;
    return -1;
}

int tt_csv_skip(const char *line)
{
    while (isspace((unsigned char)*line))
        line++;
    return *line == 0 || *line == '#';
}

int tt_csv_next(tt_csv_reader *r, char **fields)
{
    while (r->next) {
        char *line = r->next;
        r->next = strchr(line, '\n');
        if (r->next)
            *r->next++ = 0;
        r->line_no++;
        if (!tt_csv_skip(line))
            return tt_csv_split(line, fields);
    }
    return 0;
}
