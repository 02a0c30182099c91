/* Other frameworks' model files given where an ONNX model is expected: a TensorFlow
 * SavedModel folder, Keras HDF5, TFLite, TorchScript or a torch.save checkpoint, MXNet's
 * -symbol.json / .params pair. Each is recognised by its first bytes (none of them can start
 * a valid ONNX protobuf) and refused with the command that exports it to ONNX. */
#include "model/model.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNIFF_BYTES 65536

/* path without its extension `ext` (or its last one), for naming the .onnx to write. */
static void stem(const char *path, const char *ext, char *out, size_t n)
{
    size_t len = strlen(path), el = ext ? strlen(ext) : 0;
    if (ext && len > el && strcmp(path + len - el, ext) == 0)
        len -= el;
    else if (!ext) {
        const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
        if (dot && (!slash || dot > slash) && dot != path)
            len = (size_t)(dot - path);
    }
    snprintf(out, n, "%.*s", (int)len, path);
}

static bool has(const char *buf, size_t n, const char *s)
{
    return memmem(buf, n, s, strlen(s)) != NULL;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static tt_status saved_model(const char *dir)
{
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", dir);
    size_t len = strlen(d);
    while (len > 1 && d[len - 1] == '/')
        d[--len] = 0;
    return tt_error(TETHER_ERR_UNSUPPORTED,
                    "'%s' is a TensorFlow SavedModel, not an ONNX model: export it with tf2onnx "
                    "(pip install tf2onnx): python -m tf2onnx.convert --saved-model %s --output %s/model.onnx "
                    "--opset 13 (add --signature_def KEY for a signature other than serving_default)",
                    d, d, d);
}

/* MXNet's checkpoint is PREFIX-symbol.json + PREFIX-NNNN.params. */
static tt_status mxnet(const char *path, bool is_symbol)
{
    char prefix[PATH_MAX], sym[PATH_MAX + 16], params[PATH_MAX + 16];
    if (is_symbol) {
        stem(path, "-symbol.json", prefix, sizeof prefix);
        snprintf(sym, sizeof sym, "%s", path);
        snprintf(params, sizeof params, "%s-0000.params", prefix);
    } else {
        stem(path, ".params", prefix, sizeof prefix);
        snprintf(params, sizeof params, "%s", path);
        /* PREFIX-0012.params: the epoch is not part of the prefix */
        size_t len = strlen(prefix), k = len;
        while (k > 0 && prefix[k - 1] >= '0' && prefix[k - 1] <= '9')
            k--;
        if (k < len && k > 0 && prefix[k - 1] == '-')
            prefix[k - 1] = 0;
        snprintf(sym, sizeof sym, "%s-symbol.json", prefix);
    }
    return tt_error(TETHER_ERR_UNSUPPORTED,
                    "'%s' is an MXNet %s, not an ONNX model: export the checkpoint with MXNet's ONNX exporter "
                    "(MXNet 1.9+; mxnet.contrib.onnx.export_model in older releases): python -c \"import mxnet as mx, "
                    "numpy as np; mx.onnx.export_model('%s', '%s', [(1, 3, 224, 224)], np.float32, '%s.onnx')\" "
                    "(with your input's shape for (1, 3, 224, 224))%s",
                    path, is_symbol ? "symbol file" : "parameter file", sym, params, prefix,
                    file_exists(is_symbol ? params : sym) ? "" : "; the checkpoint's other file was not found next to it");
}

static tt_status torch(const char *path, bool scripted)
{
    char out[PATH_MAX];
    stem(path, NULL, out, sizeof out);
    if (scripted)
        return tt_error(TETHER_ERR_UNSUPPORTED,
                        "'%s' is a TorchScript model, not an ONNX model: export it with PyTorch: python -c \"import "
                        "torch; m = torch.jit.load('%s'); x = torch.rand(1, 3, 224, 224); torch.onnx.export(m, (x,), "
                        "'%s.onnx', opset_version=13)\" (with an example input of your model's shape for x)",
                        path, path, out);
    return tt_error(TETHER_ERR_UNSUPPORTED,
                    "'%s' is a PyTorch checkpoint (torch.save), not an ONNX model: build the model in Python, load "
                    "it and export it: torch.onnx.export(model.eval(), (example_input,), '%s.onnx', "
                    "opset_version=13)",
                    path, out);
}

static tt_status tf_file(const char *path, const char *flag, const char *what)
{
    char out[PATH_MAX];
    stem(path, NULL, out, sizeof out);
    return tt_error(TETHER_ERR_UNSUPPORTED,
                    "'%s' is a %s, not an ONNX model: export it with tf2onnx (pip install tf2onnx): python -m "
                    "tf2onnx.convert %s %s --output %s.onnx --opset 13",
                    path, what, flag, path, out);
}

tt_status tt_model_check_format(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return TT_OK; /* the loader names the problem */
    if (S_ISDIR(st.st_mode)) {
        char pb[PATH_MAX + 32], pbtxt[PATH_MAX + 32];
        snprintf(pb, sizeof pb, "%s/saved_model.pb", path);
        snprintf(pbtxt, sizeof pbtxt, "%s/saved_model.pbtxt", path);
        if (file_exists(pb) || file_exists(pbtxt))
            return saved_model(path);
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s' is a folder: give the path of an .onnx file", path);
    }
    size_t len = strlen(path);
    if (len >= 14 && strcmp(path + len - 14, "saved_model.pb") == 0 && (len == 14 || path[len - 15] == '/')) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", len == 14 ? 1 : (int)(len - 15), len == 14 ? "." : path);
        return saved_model(dir);
    }
    /* non-blocking: a FIFO or device must not hang the open (the loader refuses them) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return TT_OK;
    char buf[SNIFF_BYTES];
    ssize_t n = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = pread(fd, buf, sizeof buf, 0);
    close(fd);
    if (n < 8)
        return TT_OK;
    size_t m = (size_t)n;
    if (memcmp(buf, "PK\003\004", 4) == 0) {
        if (has(buf, m, "constants.pkl") || has(buf, m, "/code/"))
            return torch(path, true);
        if (has(buf, m, "data.pkl"))
            return torch(path, false);
        if (has(buf, m, ".npy"))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s' is a numpy .npz archive (arrays), not an ONNX model",
                            path);
        return tt_error(TETHER_ERR_INVALID_MODEL, "'%s' is a zip archive, not an ONNX model", path);
    }
    /* torch.save's legacy format: a pickle opening with its magic number */
    static const unsigned char torch_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8};
    if (m >= sizeof torch_magic && memcmp(buf, torch_magic, sizeof torch_magic) == 0)
        return torch(path, false);
    /* MXNet's NDArray list: a little-endian u64 0x112, then a reserved u64 */
    static const unsigned char mx_magic[] = {0x12, 0x01, 0, 0, 0, 0, 0, 0};
    if (memcmp(buf, mx_magic, sizeof mx_magic) == 0)
        return mxnet(path, false);
    size_t i = 0;
    while (i < m && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
        i++;
    if (i < m && buf[i] == '{' && has(buf, m, "\"nodes\"") && has(buf, m, "\"heads\"") &&
        has(buf, m, "\"arg_nodes\""))
        return mxnet(path, true);
    if (memcmp(buf, "\x89HDF\r\n\x1a\n", 8) == 0)
        return tf_file(path, "--keras", "Keras HDF5 model");
    if (memcmp(buf + 4, "TFL3", 4) == 0)
        return tf_file(path, "--tflite", "TensorFlow Lite model");
    return TT_OK;
}
