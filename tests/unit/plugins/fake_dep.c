/* A library that fake_plugin.c (built with FAKE_DEP) needs and the dynamic linker cannot
 * find: it lives in a directory of its own, on no search path. */
__attribute__((visibility("default"))) int tt_fake_dep_value(void) { return 42; }
