/* Just enough CSV for price files and benchmark tables: comma-separated fields, optional
 * double quotes (with "" for a quote inside), a header line naming the columns. */
#ifndef TT_CLI_CSV_H
#define TT_CLI_CSV_H

#define TT_CSV_MAX_FIELDS 32

/* Splits one line in place into at most TT_CSV_MAX_FIELDS fields, trimming spaces around
 * unquoted fields and the line end. Returns the number of fields, or -1 when the line has
 * more fields than that or an unterminated quote. */
int tt_csv_split(char *line, char **fields);

/* The index of `name` among the header's fields (case-insensitive), or -1. */
int tt_csv_column(char *const *header, int n, const char *name);

/* True for lines to skip: empty, blank or starting with '#'. */
int tt_csv_skip(const char *line);

/* Walks CSV text record by record, splitting it in place: start with {.next = text}. */
typedef struct tt_csv_reader {
    char *next;  /* the rest of the text; NULL past its end */
    int line_no; /* the line of the record last returned, counting from 1 */
} tt_csv_reader;

/* Splits the next line that tt_csv_skip keeps into fields, as tt_csv_split does: the number
 * of fields (at least 1), -1 for a malformed line, 0 at the end of the text. */
int tt_csv_next(tt_csv_reader *r, char **fields);

#endif
