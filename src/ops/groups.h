/* Every table of op definitions, one per source file of ops/ and of each backend.
 * X(name) declares `const tt_op_def tt_ops_<name>[]`, ended by TT_OP_END. */
#define TT_OP_GROUPS(X)                                                              \
    X(math) X(logic) X(cast)               /* elementwise */                         \
    X(reduce) X(linalg) X(quant) X(loss)   /* reductions, products, quantisation */  \
    X(nn) X(conv) X(pool) X(resize)        /* neural-network layers */               \
    X(shape) X(index) X(scatter)           /* shapes and indexing */                 \
    X(seq) X(control) X(rnn)               /* sequences, control flow, recurrences */\
    X(signal) X(misc) X(random) X(text)    /* signal processing, detection, text */  \
    X(cpu)                                 /* backends/cpu: fast kernels */
