/* The op families: one source file of src/ops/ each, holding the family's schemas
 * (`const tt_op_schema tt_schemas_<name>[]`, listed by the ops registry) and its reference
 * kernels (`const tt_kernel tt_ref_<name>[]`, registered by the ref backend). */
#define TT_OP_GROUPS(X)                                                              \
    X(math) X(logic) X(cast)               /* elementwise */                         \
    X(reduce) X(linalg) X(quant) X(loss)   /* reductions, products, quantisation */  \
    X(nn) X(conv) X(pool) X(resize)        /* neural-network layers */               \
    X(shape) X(index) X(scatter)           /* shapes and indexing */                 \
    X(seq) X(control) X(rnn)               /* sequences, control flow, recurrences */\
    X(signal) X(misc) X(random) X(text)    /* signal processing, detection, text */  \
    X(attention) X(norm) X(act) X(bitwise) /* added since opset 18 */                 \
    X(spatial) X(strings) X(ml) X(ssm)                                                  \
    X(fused) X(cnn)                        /* tether's own: fused ops, copies, blocked layouts */
