/* The cost advisor and the bench statistics: prices from the catalogs and a user file, cost
 * per 100,000 inferences, constraints, the recommendation and savings, the serverless
 * crossover, reading CSV and bench JSON, percentiles and the chart. Expected values are
 * worked out here from the published prices, by other routes than the code's. */
#include "check.h"

/* The advisor lives in the CLI's sources, which tether_static does not hold: compile them
 * into this test directly, so no build rule beyond the unit-test glob is needed. */
#include "cli/advise.c"
#include "cli/advise_io.c"
#include "cli/bench.c"
#include "cli/csv.c"
#include "cli/inputs.c"
#include "cli/npy.c"
#include "cli/prices.c"
#include "cli/svg.c"

#define GIB (1024.0 * 1024 * 1024)

static tt_adv_row mkrow(const char *host, const char *acc, double price, double mean, double p90)
{
    tt_adv_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.host, sizeof r.host, "%s", host);
    snprintf(r.accelerator, sizeof r.accelerator, "%s", acc);
    r.price_per_hour = price;
    r.mean_ms = mean;
    r.p90_ms = p90;
    return r;
}

static const tt_adv_row *find(const tt_adv_row *rows, int n, const char *host, const char *acc)
{
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i].host, host) == 0 && strcmp(rows[i].accelerator, acc) == 0)
            return &rows[i];
    CHECK_FAIL("no row %s + %s", host, acc);
    return NULL;
}

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/tt_advise_XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    return path;
}

TEST(cost_per_100k_is_price_times_mean_over_36)
{
    /* $/h / 3600 s/h * (ms / 1000) * 100,000 = $/h * ms / 36 */
    CHECK_NEAR(tt_adv_cost_per_100k(0.205, 20), 0.205 * 20 / 36, 1e-12);
    CHECK_NEAR(tt_adv_cost_per_100k(3.06, 4), 3.06 * 4 / 36, 1e-12);
    CHECK_NEAR(tt_adv_cost_per_100k(0, 10), 0, 0);
    /* 1 $/h for 36 ms each: 100,000 * 36 ms = 3600 s = one hour = $1 */
    CHECK_NEAR(tt_adv_cost_per_100k(1.0, 36), 1.0, 1e-12);
}

TEST(catalog_prices_are_the_published_ones)
{
    tt_price p;
    CHECK(tt_price_lookup(NULL, "c5.large", &p, NULL));
    CHECK_NEAR(p.price_per_hour, 0.085, 0);
    CHECK(tt_price_lookup(NULL, "p3.8xlarge", &p, NULL));
    CHECK_NEAR(p.price_per_hour, 12.24, 0);
    CHECK_NEAR(p.gpu_memory_bytes, 64 * GIB, 0);
    CHECK(tt_price_lookup(NULL, "eia2.medium", &p, NULL)); /* from core/catalog.c */
    CHECK_NEAR(p.price_per_hour, 0.12, 0);
    CHECK_NEAR(p.memory_bytes, 2 * GIB, 0);
    CHECK(tt_price_lookup(NULL, "eia1.xlarge", &p, NULL));
    CHECK_NEAR(p.price_per_hour, 0.52, 0);
    CHECK(tt_price_lookup(NULL, "cpu.small", &p, NULL));
    CHECK(p.price_per_hour < 0); /* no price given: unknown, not free */
    CHECK(!tt_price_lookup(NULL, "z9.huge", &p, NULL));
    int n;
    const tt_price *h = tt_prices_builtin_hosts(&n);
    CHECK_EQ_INT(n, 17); /* c5 x6, m5 x4, g4dn x3, p2 x2, p3 x2 */
    for (int i = 0; i < n; i++)
        CHECK(h[i].price_per_hour > 0 && h[i].memory_bytes > 0 && h[i].vcpus > 0);
}

/* The rows of a typical sweep, priced from the catalog. */
static int sample_rows(tt_adv_row *r)
{
    int n = 0;
    r[n++] = mkrow("c5.large", "", -1, 120, 130);
    r[n++] = mkrow("c5.2xlarge", "none", -1, 40, 45);
    r[n++] = mkrow("c5.large", "eia2.medium", -1, 20, 24);
    r[n++] = mkrow("c5.large", "eia2.large", -1, 15, 18);
    r[n++] = mkrow("m5.large", "eia1.medium", -1, 22, 30);
    r[n++] = mkrow("g4dn.xlarge", "", -1, 8, 9);
    r[n++] = mkrow("p3.2xlarge", "", -1, 4, 5);
    return n;
}

TEST(advise_prices_costs_sorts_and_recommends)
{
    tt_adv_row rows[16];
    int n = sample_rows(rows);
    tt_adv_constraints c = {.max_p90_ms = 50};
    tt_adv_result res;
    tt_advise(rows, n, NULL, &c, &res);

    /* Prices: host + accelerator, from the published tables. */
    CHECK_NEAR(find(rows, n, "c5.large", "eia2.medium")->price_used, 0.085 + 0.12, 1e-12);
    CHECK_NEAR(find(rows, n, "m5.large", "eia1.medium")->price_used, 0.096 + 0.13, 1e-12);
    CHECK_NEAR(find(rows, n, "g4dn.xlarge", "")->price_used, 0.526, 1e-12);
    /* Sorted by cost, each the formula's. */
    for (int i = 0; i < n; i++) {
        CHECK_NEAR(rows[i].cost_per_100k, rows[i].price_used * rows[i].mean_ms / 36, 1e-12);
        if (i)
            CHECK(rows[i - 1].cost_per_100k <= rows[i].cost_per_100k);
    }
    /* The recommendation: the cheapest row with p90 <= 50, found here by brute force. */
    int best = -1, second = -1;
    for (int i = 0; i < n; i++) {
        if (rows[i].p90_ms > 50)
            continue;
        if (best < 0 || rows[i].cost_per_100k < rows[best].cost_per_100k) {
            second = best;
            best = i;
        } else if (second < 0 || rows[i].cost_per_100k < rows[second].cost_per_100k) {
            second = i;
        }
    }
    CHECK_EQ_INT(res.recommended, best);
    CHECK_EQ_INT(res.runner_up, second);
    CHECK(strcmp(rows[best].host, "c5.large") == 0 && strcmp(rows[best].accelerator, "eia2.medium") == 0);
    /* c5.large alone is the cheapest per hour but too slow: it fails, and says why. */
    const tt_adv_row *slow = find(rows, n, "c5.large", "");
    CHECK(!slow->meets);
    CHECK_STR_CONTAINS(slow->why_not, "p90 130 ms > 50 ms");
    CHECK_EQ_INT(slow->cls, TT_ADV_CPU_ONLY);
    CHECK_EQ_INT(find(rows, n, "p3.2xlarge", "")->cls, TT_ADV_GPU_ONLY);
    CHECK_EQ_INT(find(rows, n, "m5.large", "eia1.medium")->cls, TT_ADV_ACCELERATED);
    CHECK(strcmp(find(rows, n, "m5.large", "eia1.medium")->family, "eia1") == 0);

    /* Savings: against the cheapest CPU-only row meeting the constraints (c5.2xlarge: c5.large
     * misses them) and the cheapest GPU-only one (g4dn.xlarge, cheaper than p3.2xlarge). */
    double rec = 0.205 * 20 / 36, cpu = 0.34 * 40 / 36, gpu = 0.526 * 8 / 36;
    CHECK(strcmp(rows[res.cheapest_cpu].host, "c5.2xlarge") == 0);
    CHECK(strcmp(rows[res.cheapest_gpu].host, "g4dn.xlarge") == 0);
    CHECK_NEAR(res.savings_vs_cpu, (cpu - rec) / cpu, 1e-12);
    CHECK_NEAR(res.savings_vs_gpu, (gpu - rec) / gpu, 1e-12);
}

TEST(advise_with_no_row_meeting_says_why)
{
    tt_adv_row rows[16];
    int n = sample_rows(rows);
    tt_adv_constraints c = {.max_p90_ms = 1, .max_mean_ms = 0.5};
    tt_adv_result res;
    tt_advise(rows, n, NULL, &c, &res);
    CHECK_EQ_INT(res.recommended, -1);
    CHECK_EQ_INT(res.runner_up, -1);
    CHECK_STR_CONTAINS(res.reason, "none of the 7 rows");
    for (int i = 0; i < n; i++) {
        CHECK(!rows[i].meets);
        CHECK_STR_CONTAINS(rows[i].why_not, "p90");
        CHECK_STR_CONTAINS(rows[i].why_not, "mean");
    }
    /* Without a recommendation the savings are not computed, but the comparisons exist. */
    CHECK(res.cheapest_cpu >= 0);
    CHECK_NEAR(res.savings_vs_cpu, 0, 0);
}

TEST(advise_memory_constraint)
{
    tt_adv_row rows[8];
    int n = 0;
    rows[n++] = mkrow("c5.large", "eia2.medium", -1, 20, 24); /* 2 GiB */
    rows[n++] = mkrow("c5.large", "eia2.large", -1, 15, 18);  /* 4 GiB */
    rows[n++] = mkrow("c5.large", "", -1, 100, 110);          /* 4 GiB RAM */
    rows[n++] = mkrow("c5.xlarge", "", -1, 90, 95);           /* 8 GiB RAM */
    rows[n++] = mkrow("p2.xlarge", "", -1, 10, 12);           /* K80: 12 GiB */
    tt_adv_constraints c = {.min_memory = 6 * GIB};
    tt_adv_result res;
    tt_advise(rows, n, NULL, &c, &res);
    CHECK(!find(rows, n, "c5.large", "eia2.medium")->meets);
    CHECK_STR_CONTAINS(find(rows, n, "c5.large", "eia2.medium")->why_not, "accelerator memory 2 GiB < 6 GiB");
    CHECK(!find(rows, n, "c5.large", "eia2.large")->meets);
    CHECK(!find(rows, n, "c5.large", "")->meets);
    CHECK(find(rows, n, "c5.xlarge", "")->meets);
    CHECK(find(rows, n, "p2.xlarge", "")->meets);
    CHECK_NEAR(find(rows, n, "p2.xlarge", "")->device_memory, 12 * GIB, 0);

    /* The row's own need counts as well as the flag. */
    n = 0;
    rows[n] = mkrow("c5.large", "eia2.medium", -1, 20, 24);
    rows[n++].memory_needed = 3 * GIB;
    rows[n] = mkrow("c5.large", "eia2.large", -1, 15, 18);
    rows[n++].memory_needed = 3 * GIB;
    tt_adv_constraints none = {0};
    tt_advise(rows, n, NULL, &none, &res);
    CHECK(!find(rows, n, "c5.large", "eia2.medium")->meets);
    CHECK(find(rows, n, "c5.large", "eia2.large")->meets);
    CHECK(strcmp(rows[res.recommended].accelerator, "eia2.large") == 0);
}

TEST(price_precedence_row_then_user_file)
{
    char *path = write_temp("name,price_per_hour\n# negotiated\nc5.large,0.05\ncpu.small,0.01\n");
    tt_prices user;
    CHECK_OK(tt_prices_load(path, &user));
    unlink(path);
    CHECK_EQ_INT(user.n, 2);
    tt_adv_row rows[4];
    int n = 0;
    rows[n++] = mkrow("c5.large", "eia2.medium", 1.0, 20, 24); /* recorded 1.0, file names c5.large */
    rows[n++] = mkrow("m5.large", "eia2.medium", 0.5, 20, 24); /* recorded, file silent: kept */
    rows[n++] = mkrow("m5.large", "cpu.small", -1, 50, 55);    /* cpu.small priced by the file only */
    rows[n++] = mkrow("local", "", -1, 50, 55);                /* unknown host */
    tt_adv_constraints c = {0};
    tt_adv_result res;
    tt_advise(rows, n, &user, &c, &res);
    CHECK_NEAR(find(rows, n, "c5.large", "eia2.medium")->price_used, 0.05 + 0.12, 1e-12);
    CHECK_NEAR(find(rows, n, "m5.large", "eia2.medium")->price_used, 0.5, 0);
    CHECK_NEAR(find(rows, n, "m5.large", "cpu.small")->price_used, 0.096 + 0.01, 1e-12);
    const tt_adv_row *local = find(rows, n, "local", "");
    CHECK(local->price_used < 0 && local->cost_per_100k < 0 && !local->meets);
    CHECK_STR_CONTAINS(local->why_not, "no price for host 'local'");
    CHECK(&rows[n - 1] == local); /* unpriced rows sort last */
    tt_prices_free(&user);

    /* Without the file, cpu.small has no price. */
    rows[0] = mkrow("m5.large", "cpu.small", -1, 50, 55);
    tt_advise(rows, 1, NULL, &c, &res);
    CHECK_STR_CONTAINS(rows[0].why_not, "no price for accelerator 'cpu.small'");
    CHECK_EQ_INT(res.recommended, -1);
}

TEST(price_file_errors_name_the_line)
{
    tt_prices p;
    char *path = write_temp("name,price_per_hour\nc5.large,cheap\n");
    CHECK_ERR(tt_prices_load(path, &p), TETHER_ERR_INVALID_ARGUMENT, ":2: price_per_hour 'cheap'");
    unlink(path);
    path = write_temp("host,price\nc5.large,1\n");
    CHECK_ERR(tt_prices_load(path, &p), TETHER_ERR_INVALID_ARGUMENT, "name,price_per_hour");
    unlink(path);
    path = write_temp("name,price_per_hour,memory_gib,kind\nx1.big,2.5,100,host\nacc.x,0.3,16,accelerator\n");
    CHECK_OK(tt_prices_load(path, &p));
    unlink(path);
    CHECK_EQ_INT(p.n, 2);
    CHECK_NEAR(p.entries[0].memory_bytes, 100 * GIB, 0);
    CHECK_EQ_INT(p.entries[1].kind, TT_PRICE_ACCELERATOR);
    tt_prices_free(&p);
}

TEST(serverless_per_request_and_crossover)
{
    tt_adv_serverless s;
    tt_adv_serverless_init(&s);
    s.duration_ms = 120;
    /* $0.20 per million + 2 GB * 0.12 s * $0.0000166667 */
    double per = 0.20 / 1e6 + 2.0 * 0.12 * 0.0000166667;
    CHECK_NEAR(tt_adv_serverless_per_request(&s), per, 1e-15);
    CHECK_NEAR(tt_adv_serverless_billed_ms(&s), 120, 0);
    s.duration_ms = 120.2;
    CHECK_NEAR(tt_adv_serverless_billed_ms(&s), 121, 0);
    s.duration_ms = 120;
    s.granularity_ms = 100; /* 2019 billing: 120 ms is billed as 200 ms */
    CHECK_NEAR(tt_adv_serverless_billed_ms(&s), 200, 0);
    CHECK_NEAR(tt_adv_serverless_per_request(&s), 0.20 / 1e6 + 2.0 * 0.2 * 0.0000166667, 1e-15);
    s.granularity_ms = 1;

    tt_adv_row r = mkrow("c5.large", "eia2.medium", -1, 20, 24);
    tt_adv_result res;
    tt_adv_constraints c = {0};
    tt_advise(&r, 1, NULL, &c, &res);
    tt_adv_monthly m;
    tt_adv_monthly_compare(&r, 1e6, &s, &m);
    double monthly = 0.205 * 730;
    CHECK_NEAR(m.always_on_usd, monthly, 1e-9);
    CHECK_EQ_INT(m.instances, 1);
    CHECK_NEAR(m.serverless_usd, 1e6 * per, 1e-9);
    CHECK_NEAR(m.crossover, monthly / per, 1e-6);
    CHECK_NEAR(m.capacity, 730.0 * 3600 * 1000 / 20.0, 1e-6);
    /* Past one instance's capacity, a second one is needed. */
    tt_adv_monthly_compare(&r, m.capacity * 1.5, &s, &m);
    CHECK_EQ_INT(m.instances, 2);
    CHECK_NEAR(m.always_on_usd, 2 * monthly, 1e-9);

    /* A row so slow and dear that serverless stays cheaper up to its whole capacity. */
    tt_adv_row slow = mkrow("p3.8xlarge", "", -1, 500, 600);
    tt_advise(&slow, 1, NULL, &c, &res);
    tt_adv_monthly_compare(&slow, 1000, &s, &m);
    CHECK(m.crossover < 0);
}

TEST(parse_sizes)
{
    double v;
    CHECK(tt_adv_parse_bytes("2GiB", &v) && v == 2 * GIB);
    CHECK(tt_adv_parse_bytes("512 MiB", &v) && v == 512.0 * 1024 * 1024);
    CHECK(tt_adv_parse_bytes("1.5g", &v) && v == 1.5 * GIB);
    CHECK(tt_adv_parse_bytes("1000", &v) && v == 1000);
    CHECK(tt_adv_parse_bytes("2GB", &v) && v == 2e9);
    CHECK(!tt_adv_parse_bytes("two", &v));
    CHECK(!tt_adv_parse_bytes("-1G", &v));
    CHECK(!tt_adv_parse_bytes("3 parsecs", &v));
}

TEST(read_csv_any_column_order_and_quotes)
{
    char text[] = "# measured on a c5\n"
                  "p90_ms,mean_ms,host,accelerator,price_per_hour,p50_ms,memory_needed\n"
                  "24,20,c5.large,eia2.medium,,19,1GiB\n"
                  "\n"
                  "9, 8 ,\"g4dn.xlarge\",none,0.6,7,\n"
                  "30,25,\"odd, \"\"quoted\"\" host\",,0.1,24,100\n";
    tt_adv_row *rows = NULL;
    int n = 0;
    CHECK_OK(tt_adv_read_text(text, "t.csv", &rows, &n));
    CHECK_EQ_INT(n, 3);
    CHECK(strcmp(rows[0].host, "c5.large") == 0 && strcmp(rows[0].accelerator, "eia2.medium") == 0);
    CHECK(rows[0].price_per_hour < 0);
    CHECK_NEAR(rows[0].mean_ms, 20, 0);
    CHECK_NEAR(rows[0].p90_ms, 24, 0);
    CHECK_NEAR(rows[0].memory_needed, GIB, 0);
    CHECK_NEAR(rows[1].mean_ms, 8, 0);
    CHECK_NEAR(rows[1].price_per_hour, 0.6, 0);
    CHECK(strcmp(rows[2].host, "odd, \"quoted\" host") == 0);
    CHECK_NEAR(rows[2].memory_needed, 100, 0);
    free(rows);
}

TEST(read_csv_errors_name_the_line)
{
    tt_adv_row *rows = NULL;
    int n = 0;
    char missing[] = "host,accelerator,price_per_hour,p90_ms\nc5.large,,0.1,3\n";
    CHECK_ERR(tt_adv_read_text(missing, "a.csv", &rows, &n), TETHER_ERR_INVALID_ARGUMENT, "no column 'mean_ms'");
    char nohost[] = "accelerator,price_per_hour,mean_ms\neia2.medium,0.1,3\n";
    CHECK_ERR(tt_adv_read_text(nohost, "a.csv", &rows, &n), TETHER_ERR_INVALID_ARGUMENT, "no column 'host'");
    char bad[] = "host,accelerator,price_per_hour,mean_ms,p90_ms\nc5.large,,0.1,3,4\nc5.large,,0.1,fast,4\n";
    CHECK_ERR(tt_adv_read_text(bad, "b.csv", &rows, &n), TETHER_ERR_INVALID_ARGUMENT, "b.csv:3: mean_ms 'fast'");
    char neg[] = "host,accelerator,price_per_hour,mean_ms,p90_ms\nc5.large,,-1,3,4\n";
    CHECK_ERR(tt_adv_read_text(neg, "c.csv", &rows, &n), TETHER_ERR_INVALID_ARGUMENT, "c.csv:2: price_per_hour");
    char ragged[] = "host,accelerator,price_per_hour,mean_ms,p90_ms\nc5.large,,1,3\n";
    CHECK_ERR(tt_adv_read_text(ragged, "d.csv", &rows, &n), TETHER_ERR_INVALID_ARGUMENT, "d.csv:2: 4 fields");
    char quote[] = "host,accelerator,price_per_hour,mean_ms,p90_ms\n\"c5.large,,1,3,4\n";
    CHECK_ERR(tt_adv_read_text(quote, "e.csv", &rows, &n), TETHER_ERR_INVALID_ARGUMENT, "e.csv:2: malformed");
    free(rows);
}

/* Tables as write-ups print them: Markdown, their headers, "$" prices, old and odd-case type
 * names, units in cells, a P90 column or none. */
TEST(read_tables_as_printed)
{
    char md[] = "| Instance type | EI accelerator | Price per hour ($) | Average latency (ms) | P90 latency (ms) |"
                " Cost per 100k inferences |\n"
                "|---|:---|---:|---|---|---|\n"
                "| **C5.Large** | eia.medium | $0.215 | 21.5 ms | 24 | $0.13 |\n"
                "| c5.4XL | None | $0.68/hr | 12 | - | $0.23 |\n"
                "| ml.c5.xlarge | EIA2.Medium | | 9 | 10 | |\n";
    tt_adv_row *rows = NULL;
    int n = 0;
    CHECK_OK(tt_adv_read_text(md, "seed.md", &rows, &n));
    CHECK_EQ_INT(n, 3);
    CHECK(strcmp(rows[0].host, "c5.large") == 0 && strcmp(rows[0].accelerator, "eia1.medium") == 0);
    CHECK_NEAR(rows[0].price_per_hour, 0.215, 1e-12);
    CHECK_NEAR(rows[0].mean_ms, 21.5, 0);
    CHECK_NEAR(rows[0].p90_ms, 24, 0);
    CHECK(strcmp(rows[1].host, "c5.4xlarge") == 0 && rows[1].accelerator[0] == 0);
    CHECK_NEAR(rows[1].price_per_hour, 0.68, 1e-12);
    CHECK(rows[1].p90_ms < 0); /* not measured */
    CHECK(strcmp(rows[2].host, "c5.xlarge") == 0 && strcmp(rows[2].accelerator, "eia2.medium") == 0);
    CHECK(rows[2].price_per_hour < 0);
    free(rows);
    rows = NULL, n = 0;

    /* tab-separated, host and accelerator in one column, the price in two parts, no P90 */
    char tsv[] = "Instance + accelerator\tInstance price\tAccelerator price\tMean latency\tBatch size\tModel\n"
                 "c5.large + eia2.large\t$0.085\t$0.24\t30\t4\tresnet50\n"
                 "g4dn.xlarge\t0.526\t\t8\t4\tresnet50\n";
    CHECK_OK(tt_adv_read_text(tsv, "t.tsv", &rows, &n));
    CHECK_EQ_INT(n, 2);
    CHECK(strcmp(rows[0].host, "c5.large") == 0 && strcmp(rows[0].accelerator, "eia2.large") == 0);
    CHECK_NEAR(rows[0].price_per_hour, 0.085 + 0.24, 1e-12);
    CHECK_EQ_INT(rows[0].batch, 4);
    CHECK(strcmp(rows[0].model, "resnet50") == 0);
    CHECK(rows[0].p90_ms < 0 && rows[0].p95_ms < 0 && rows[0].p99_ms < 0);
    CHECK_NEAR(rows[1].price_per_hour, 0.526, 1e-12);
    free(rows);
    rows = NULL, n = 0;
    char badprice[] = "host,price per hour,mean latency\nc5.large,cheap,3\n";
    CHECK_ERR(tt_adv_read_text(badprice, "p.csv", &rows, &n), TETHER_ERR_INVALID_ARGUMENT,
              "p.csv:2: price_per_hour 'cheap'");
    free(rows);
}

TEST(type_names_and_prices_as_printed)
{
    static const char *cases[][2] = {
        {"C5.4XL", "c5.4xlarge"},       {"c5.XL", "c5.xlarge"},       {"c5.18xl", "c5.18xlarge"},
        {"eia.medium", "eia1.medium"},  {"EIA.Large", "eia1.large"},  {"ml.eia2.medium", "eia2.medium"},
        {"ml.c5.large", "c5.large"},    {" G4DN.XLarge ", "g4dn.xlarge"}, {"eia2.med", "eia2.medium"},
        {"None", ""},                   {"-", ""},                    {"N/A", ""},
        {"cpu.small", "cpu.small"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tt_price_canon(cases[i][0], out, sizeof out);
        if (strcmp(out, cases[i][1]) != 0)
            CHECK_FAIL("'%s' -> '%s', expected '%s'", cases[i][0], out, cases[i][1]);
    }
    tt_price p;
    CHECK(tt_price_lookup(NULL, "C5.4XL", &p, NULL) && p.price_per_hour == 0.68);
    CHECK(tt_price_lookup(NULL, "eia.medium", &p, NULL) && p.price_per_hour == 0.13);
    double v;
    CHECK(tt_price_parse("$0.12", &v) && v == 0.12);
    CHECK(tt_price_parse("$ 1,020.50", &v) && v == 1020.5);
    CHECK(tt_price_parse("0.34 USD", &v) && v == 0.34);
    CHECK(tt_price_parse("$0.205/hr", &v) && v == 0.205);
    CHECK(tt_price_parse("0.5 per hour", &v) && v == 0.5);
    CHECK(!tt_price_parse("$-1", &v));
    CHECK(!tt_price_parse("free", &v));
    CHECK(!tt_price_parse("$", &v));
}

TEST(percentile_limits_and_batched_costs)
{
    tt_adv_row rows[3] = {mkrow("c5.large", "eia2.medium", 0.205, 20, 24), mkrow("c5.xlarge", "", 0.17, 30, 33),
                          mkrow("c5.2xlarge", "", 0.34, 10, 11)};
    rows[0].p95_ms = 26, rows[0].p99_ms = 40;
    rows[1].p95_ms = 34, rows[1].p99_ms = 35;
    rows[2].p95_ms = -1, rows[2].p99_ms = -1; /* not measured */
    tt_adv_constraints c = {.max_p99_ms = 38};
    tt_adv_result res;
    tt_advise(rows, 3, NULL, &c, &res);
    const tt_adv_row *a = find(rows, 3, "c5.large", "eia2.medium"), *b = find(rows, 3, "c5.xlarge", ""),
                     *d = find(rows, 3, "c5.2xlarge", "");
    CHECK(!a->meets && strstr(a->why_not, "p99 40 ms > 38 ms"));
    CHECK(b->meets);
    CHECK(!d->meets && strstr(d->why_not, "p99 not measured"));
    CHECK(res.recommended >= 0 && &rows[res.recommended] == b);

    /* batch 8: an inference serves 8 samples, so the cost per sample is an eighth */
    tt_adv_row batched[2] = {mkrow("c5.large", "", 0.085, 80, 90), mkrow("c5.large", "eia2.medium", 0.205, 20, 22)};
    batched[0].batch = batched[1].batch = 8;
    batched[0].p95_ms = batched[0].p99_ms = batched[1].p95_ms = batched[1].p99_ms = -1;
    tt_adv_constraints none = {0};
    tt_advise(batched, 2, NULL, &none, &res);
    CHECK_NEAR(find(batched, 2, "c5.large", "")->cost_per_100k, 0.085 * 80 / 36 / 8, 1e-12);
    CHECK_NEAR(find(batched, 2, "c5.large", "eia2.medium")->cost_per_100k, 0.205 * 20 / 36 / 8, 1e-12);
    CHECK(tt_adv_any_batched(batched, 2));

    /* rows of two models, or of two batch sizes, do not compare */
    char why[512];
    CHECK(tt_adv_rows_comparable(batched, 2, why, sizeof why));
    batched[1].batch = 1;
    CHECK(!tt_adv_rows_comparable(batched, 2, why, sizeof why) && strstr(why, "batch sizes (8 and 1)") &&
          strstr(why, "--allow-mixed"));
    batched[1].batch = 8;
    snprintf(batched[0].model, sizeof batched[0].model, "a/resnet18.onnx");
    snprintf(batched[1].model, sizeof batched[1].model, "b/resnet18.onnx");
    CHECK(tt_adv_rows_comparable(batched, 2, why, sizeof why)); /* the same file name */
    snprintf(batched[1].model, sizeof batched[1].model, "resnet50.onnx");
    CHECK(!tt_adv_rows_comparable(batched, 2, why, sizeof why) && strstr(why, "different models"));
}

TEST(utilization_scales_always_on_capacity)
{
    tt_adv_row r = mkrow("c5.large", "", 0.085, 100, 110);
    r.price_used = 0.085;
    tt_adv_serverless sl;
    tt_adv_serverless_init(&sl);
    CHECK_NEAR(sl.utilization, 1, 0);
    sl.duration_ms = 100;
    tt_adv_monthly full, half;
    tt_adv_monthly_compare(&r, 30e6, &sl, &full);
    /* 730 h * 3600 s / 0.1 s = 26,280,000 inferences a month flat out */
    CHECK_NEAR(full.capacity, 26280000, 1e-6);
    CHECK_EQ_INT(full.instances, 2);
    sl.utilization = 0.5;
    tt_adv_monthly_compare(&r, 30e6, &sl, &half);
    CHECK_NEAR(half.capacity, 13140000, 1e-6);
    CHECK_EQ_INT(half.instances, 3);
    CHECK_NEAR(half.always_on_usd, 3 * 0.085 * 730, 1e-9);
    /* batch 4: four samples an inference */
    r.batch = 4;
    tt_adv_monthly_compare(&r, 30e6, &sl, &half);
    CHECK_NEAR(half.capacity, 4 * 13140000.0, 1e-6);
}

TEST(read_bench_json)
{
    char text[] = "{\"model\": \"m.onnx\", \"host\": \"c5.xlarge\", \"rows\": ["
                  "{\"target\": \"cpu\", \"host\": \"c5.xlarge\", \"accelerator\": null, \"price_per_hour\": 0.17,"
                  " \"mean_ms\": 12.5, \"p90_ms\": 14, \"memory_needed\": 1048576},"
                  "{\"target\": \"eia:0\", \"host\": \"c5.xlarge\", \"accelerator\": \"eia2.medium\","
                  " \"price_per_hour\": null, \"mean_ms\": 3, \"p90_ms\": 3.5}]}";
    tt_adv_row *rows = NULL;
    int n = 0;
    CHECK_OK(tt_adv_read_text(text, "b.json", &rows, &n));
    CHECK_EQ_INT(n, 2);
    CHECK(rows[0].accelerator[0] == 0);
    CHECK_NEAR(rows[0].price_per_hour, 0.17, 0);
    CHECK_NEAR(rows[0].memory_needed, 1048576, 0);
    CHECK(strcmp(rows[1].accelerator, "eia2.medium") == 0);
    CHECK(rows[1].price_per_hour < 0);
    free(rows);
    rows = NULL, n = 0;
    char nomean[] = "[{\"host\": \"c5.large\", \"p90_ms\": 3}]";
    CHECK_ERR(tt_adv_read_text(nomean, "x.json", &rows, &n), TETHER_ERR_INVALID_ARGUMENT, "row 1 has no \"mean_ms\"");
    char broken[] = "{\"rows\": [";
    CHECK_ERR(tt_adv_read_text(broken, "y.json", &rows, &n), TETHER_ERR_INVALID_ARGUMENT, "malformed JSON");
    char inf[] = "[{\"host\": \"c5.large\", \"mean_ms\": -3, \"p90_ms\": 3}]";
    CHECK_ERR(tt_adv_read_text(inf, "z.json", &rows, &n), TETHER_ERR_INVALID_ARGUMENT, "\"mean_ms\" is not");
    free(rows);
}

TEST(percentiles_interpolate_like_numpy)
{
    /* 1..100 shuffled: at fraction q the interpolated value is 1 + q * 99. */
    double v[100];
    for (int i = 0; i < 100; i++)
        v[i] = (double)((i * 37) % 100 + 1);
    tt_bench_summary s;
    tt_bench_summarize(v, 100, &s);
    CHECK_NEAR(s.p50, 1 + 0.50 * 99, 1e-12);
    CHECK_NEAR(s.p90, 1 + 0.90 * 99, 1e-12);
    CHECK_NEAR(s.p95, 1 + 0.95 * 99, 1e-12);
    CHECK_NEAR(s.p99, 1 + 0.99 * 99, 1e-12);
    CHECK_NEAR(s.mean, 50.5, 1e-12);
    CHECK_NEAR(s.min, 1, 0);
    CHECK_NEAR(s.max, 100, 0);
    /* sample standard deviation of 1..n: sqrt(n(n+1)/12) */
    CHECK_NEAR(s.stddev, sqrt(100.0 * 101 / 12), 1e-9);
    double one = 7;
    tt_bench_summarize(&one, 1, &s);
    CHECK(s.p50 == 7 && s.p99 == 7 && s.stddev == 0);
    double two[2] = {10, 20};
    CHECK_NEAR(tt_bench_percentile(two, 2, 0.9), 19, 1e-12);
}

static int count(const char *hay, const char *needle)
{
    int k = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        k++;
    return k;
}

TEST(svg_chart_has_a_bar_per_priced_row_and_the_limit)
{
    tt_adv_row rows[16];
    int n = sample_rows(rows);
    rows[n++] = mkrow("<local>", "", -1, 50, 60); /* unpriced: no bar */
    rows[n++] = mkrow("a<b&c", "", 0.1, 50, 60);  /* priced: a bar, its name escaped */
    tt_adv_constraints c = {.max_p90_ms = 50};
    tt_adv_result res;
    tt_advise(rows, n, NULL, &c, &res);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tt_adv_svg(f, rows, n, &res, &c);
    fclose(f);
    CHECK(strncmp(buf, "<?xml", 5) == 0);
    CHECK_EQ_INT(count(buf, "class=\"bar\""), n - 1);
    CHECK_EQ_INT(count(buf, "class=\"p90-point\""), n - 1);
    CHECK_STR_CONTAINS(buf, "a&lt;b&amp;c");
    CHECK_EQ_INT(count(buf, "class=\"limit\""), 1);
    CHECK_EQ_INT(count(buf, "class=\"recommended\""), 1);
    CHECK(!strstr(buf, "<local>"));
    /* Each family has one colour: both eia2 bars share theirs, c5 and eia2 differ. */
    CHECK_STR_CONTAINS(buf, "data-family=\"eia2\"");
    CHECK_STR_CONTAINS(buf, "data-family=\"g4dn\"");
    CHECK_STR_CONTAINS(buf, "</svg>\n");
    free(buf);
}

int main(int argc, char **argv)
{
    return check_main(argc, argv);
}
