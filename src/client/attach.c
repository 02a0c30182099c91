/* Attachment records: lands with the accelerator work; fails loudly until then. */
#include "client/attach.h"

tt_status tt_attach(const char *type, const char *server, tt_attachment *out)
{
    (void)type, (void)server, (void)out;
    return tt_error(TETHER_ERR_UNSUPPORTED, "attaching accelerators is not implemented in this build");
}

tt_status tt_detach(int ordinal)
{
    (void)ordinal;
    return tt_error(TETHER_ERR_UNSUPPORTED, "detaching accelerators is not implemented in this build");
}

tt_status tt_attachments_list(tt_attachment **out, int *n)
{
    *out = 0;
    *n = 0;
    return tt_error(TETHER_ERR_UNSUPPORTED, "accelerator attachments are not implemented in this build");
}

tt_status tt_attachment_get(int ordinal, tt_attachment *out)
{
    (void)ordinal, (void)out;
    return tt_error(TETHER_ERR_UNSUPPORTED, "accelerator attachments are not implemented in this build");
}
