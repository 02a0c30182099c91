/* Loading a model: bytes or a file in, a fully built tt_model (decoded, names resolved,
 * topologically sorted) out. Shape inference and op placement happen later (graph/). */
#ifndef TT_MODEL_H
#define TT_MODEL_H

#include "model/ir.h"

/* dir: where external data files live (NULL: the model may not use external data). */
tt_status tt_model_load(const void *data, size_t n, const char *dir, tt_model **out);
tt_status tt_model_load_file(const char *path, tt_model **out);
/* TT_OK when path may hold an ONNX model; UNSUPPORTED, with the command that exports it,
 * for another framework's model (a TensorFlow SavedModel folder, Keras, TFLite, TorchScript,
 * a torch.save checkpoint, MXNet's -symbol.json / .params). */
tt_status tt_model_check_format(const char *path);
void tt_model_free(tt_model *m);
/* Sets graph inputs' dimensions before the model is compiled (tether_session_config.input_dims;
 * -1 frees a dimension, > 0 fixes one): INVALID_ARGUMENT naming the input and dimension for a
 * name that is no input, a wrong rank, or a size other than the one the model fixes. */
tt_status tt_model_set_input_dims(tt_model *m, const tether_input_dims *dims, size_t n);

/* Reads a whole file into a malloc'ed buffer (bounded by max_bytes). */
tt_status tt_read_file(const char *path, size_t max_bytes, void **data, size_t *n);

/* Decoders for the ONNX test-data files (TensorProto, SequenceProto, OptionalProto):
 * the value gets heap storage the caller releases. */
tt_status tt_tensor_from_pb(const void *data, size_t n, tt_tensor *t, char *name, size_t name_cap);
tt_status tt_value_from_pb(const void *data, size_t n, const tt_type *type, tt_value *v);

#endif
