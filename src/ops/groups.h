/* Every table of op definitions, one per source file of ops/ and of each backend.
 * X(name) declares `const tt_op_def tt_ops_<name>[]`, ended by an entry with name NULL. */
#define TT_OP_GROUPS(X) \
    X(math)             \
    X(reduce)           \
    X(linalg)           \
    X(nn)               \
    X(conv)             \
    X(shape)            \
    X(index)            \
    X(seq)              \
    X(control)          \
    X(rnn)              \
    X(quant)            \
    X(signal)           \
    X(misc)             \
    X(cpu)
