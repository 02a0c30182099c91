/* The capture policy (see policy.h). */
#include "policy.h"

#include <string.h>

cu_mode cu_policy_begin(cu_policy *p, const cu_gkey *k, bool steady, bool enabled, bool *drop)
{
    *drop = false;
    if (!enabled || !steady || !k->plan) {
        /* nothing recorded stays valid across a run with other addresses */
        if (p->captured)
            *drop = true;
        memset(p, 0, sizeof *p);
        return CU_MODE_NORMAL;
    }
    if (memcmp(&p->key, k, sizeof *k) != 0) {
        if (p->captured)
            *drop = true;
        memset(p, 0, sizeof *p);
        p->key = *k;
    }
    p->steady_runs++;
    if (p->broken)
        return CU_MODE_NORMAL;
    if (p->captured)
        return CU_MODE_REPLAY;
    return p->steady_runs >= 2 ? CU_MODE_CAPTURE : CU_MODE_NORMAL;
}

void cu_policy_end(cu_policy *p, cu_mode m, bool ok, bool *drop)
{
    *drop = false;
    if (m == CU_MODE_NORMAL)
        return;
    if (!ok) {
        p->broken = true;
        *drop = p->captured || m == CU_MODE_CAPTURE;
        p->captured = false;
        return;
    }
    if (m == CU_MODE_CAPTURE)
        p->captured = true;
}
