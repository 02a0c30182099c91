/* tether_session_open: the one entry point for every target. Local targets ("cpu", "ref",
 * "cuda:N", or a list of backends "cpu,ref") open the engine in this process; accelerator
 * targets ("eia:N", "tcp://…", "unix:…") open a remote session. */
#include "runtime/session.h"

#include "backends/backend.h"
#include "client/remote.h"
#include "core/log.h"
#include "model/model.h"

#include <cblas.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;

/* OpenBLAS's pthread build starts its workers when it loads, and they spin (sched_yield)
 * for a while waiting for work: long enough to steal the cores from a session's first runs.
 * Where the library has it, its shutdown ends them; OpenBLAS builds without it declare no
 * such symbol, hence weak. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

/* OpenBLAS runs inside tether's own thread pool, so it must not start threads of its own. */
static void tt_library_init(void)
{
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
}

/* ... and its workers are ended as soon as this library is loaded (OpenBLAS, which it needs,
 * was loaded and started them first), not at the first session: a process that only
 * attaches, lists or detaches (the tether command, mostly) would otherwise have one
 * spinning beside it for its whole life (a `tether attach --fleet` made 217 sched_yield
 * calls), taking a core from the servers on a small host. */
__attribute__((constructor)) static void tt_library_load(void) { pthread_once(&g_init_once, tt_library_init); }

void tether_session_config_init(tether_session_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    cfg->target = "cpu";
    cfg->warmup = 1;
}

/* The caller's config as this library's struct: the fields its `size` covers, defaults for
 * the rest (a caller built against an older header), and nothing past ours (a newer one). */
static tt_status config_copy(const tether_session_config *cfg, tether_session_config *out)
{
    tether_session_config_init(out);
    if (!cfg)
        return TT_OK;
    if (cfg->size < offsetof(tether_session_config, target) + sizeof cfg->target)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "tether_session_config.size is %zu: start from tether_session_config_init(), which sets "
                        "it to sizeof(tether_session_config)",
                        cfg->size);
    size_t n = cfg->size < sizeof *out ? cfg->size : sizeof *out;
    memcpy(out, cfg, n);
    out->size = sizeof *out;
    if (out->num_threads < 0 || out->num_threads > 1024)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "num_threads %d is out of range 0..1024", out->num_threads);
    if (out->run_limit_ms < 0 || out->timeout_ms < 0)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "run_limit_ms and timeout_ms must not be negative");
    return TT_OK;
}

static tt_status check_target(const tether_session_config *cfg)
{
    if (!tt_precision_valid(cfg->precision))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "precision '%.32s' is not one of fp32, tf32, fp16, bf16, int8",
                        cfg->precision);
    /* the wire protocol carries no precision: a remote session computes as its server does */
    if (cfg->precision && *cfg->precision && strcmp(cfg->precision, "fp32") != 0 && cfg->target &&
        tt_target_is_remote(cfg->target))
        return tt_error(TETHER_ERR_UNSUPPORTED, "precision '%s' is for local sessions; target '%s' computes as its "
                        "server does", cfg->precision, cfg->target);
    if (cfg->n_input_dims && cfg->target && tt_target_is_remote(cfg->target))
        return tt_error(TETHER_ERR_UNSUPPORTED, "input_dims is for local sessions; target '%s' serves the model "
                        "with its own dimensions (a tetherd repository model's config can set them)", cfg->target);
    if (!cfg->target || !*cfg->target || tt_target_is_remote(cfg->target))
        return TT_OK;
    tt_backend_list bl;
    if (tt_backend_list_for(cfg->target, &bl) == TT_OK) {
        tt_backend_list_release(&bl);
        return TT_OK;
    }
    if (strncmp(cfg->target, "cuda", 4) == 0) /* a known kind of target, unavailable here */
        return tt_error_prefix(TETHER_ERR_UNSUPPORTED, "target '%s': ", cfg->target);
    return tt_error_prefix(TETHER_ERR_UNSUPPORTED,
                           "target '%s' is not supported (use \"cpu\", \"ref\", \"cuda:N\", \"eia:N\" (an attached "
                           "accelerator), \"tcp://HOST:PORT\" or \"unix:PATH\"): ",
                           cfg->target);
}

static tt_status open_model(tt_model *m, const char *label, const tether_session_config *cfg, tether_session **out)
{
    tt_status s = tt_local_open(m, cfg, out);
    if (s != TT_OK)
        return s;
    if (!cfg->quiet) {
        tether_session_stats st;
        tether_session_stats_get(*out, &st);
        tt_log(TT_LOG_NOTICE, "session %s runs on this host: %s", label, st.where);
    }
    return TT_OK;
}

tether_status tether_session_open(tether_session **out, const char *path, const tether_session_config *cfg)
{
    if (!out || !path)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "tether_session_open: out and model_path must not be NULL");
    *out = NULL;
    pthread_once(&g_init_once, tt_library_init);
    tether_session_config c;
    TT_TRY(config_copy(cfg, &c));
    cfg = &c;
    TT_TRY(check_target(cfg));
    if (strncmp(path, "model:", 6) == 0 && !(cfg && tt_target_is_remote(cfg->target)))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "'%s' names a model of a tetherd repository: give the server as the target "
                        "(tcp://HOST:PORT or unix:PATH)",
                        path);
    if (tt_target_is_remote(cfg->target)) {
        if (strncmp(path, "model:", 6) != 0) /* a repository model is no file here */
            TT_TRY(tt_model_check_format(path));
        tt_status s = tt_remote_open(path, NULL, 0, cfg, out);
        return s == TT_OK ? s : tt_error_prefix(s, "%s on %s: ", path, cfg->target);
    }
    tt_model *m;
    TT_TRY(tt_model_load_file(path, &m));
    tt_status s = open_model(m, path, cfg, out);
    if (s != TT_OK)
        return tt_error_prefix(s, "%s: ", path);
    return TT_OK;
}

tether_status tether_session_open_bytes(tether_session **out, const void *model, size_t size,
                                        const tether_session_config *cfg)
{
    if (!out || (!model && size))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "tether_session_open_bytes: out and model must not be NULL");
    *out = NULL;
    pthread_once(&g_init_once, tt_library_init);
    tether_session_config c;
    TT_TRY(config_copy(cfg, &c));
    cfg = &c;
    TT_TRY(check_target(cfg));
    if (tt_target_is_remote(cfg->target)) {
        tt_status s = tt_remote_open(NULL, model, size, cfg, out);
        return s == TT_OK ? s : tt_error_prefix(s, "%s: ", cfg->target);
    }
    tt_model *m;
    TT_TRY(tt_model_load(model, size, NULL, &m));
    return open_model(m, "(from memory)", cfg, out);
}
