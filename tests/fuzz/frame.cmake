# libFuzzer target for the wire protocol's frame decoder (tests/fuzz/fuzz_frame.c), and a
# bounded CTest run of it (label fuzz; TETHER_FUZZ_SECONDS, default 30). Included by
# tests/fuzz/CMakeLists.txt when the build is configured with -DTETHER_FUZZ=ON (clang).
if(TETHER_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz_frame ${CMAKE_CURRENT_LIST_DIR}/fuzz_frame.c)
  target_link_libraries(fuzz_frame PRIVATE tether_static)
  target_link_options(fuzz_frame PRIVATE -fsanitize=fuzzer)
  set(FUZZ_FRAME_CORPUS ${CMAKE_BINARY_DIR}/fuzz/frame-corpus)
  if(DEFINED ENV{TETHER_FUZZ_SECONDS})
    set(FUZZ_FRAME_SECONDS $ENV{TETHER_FUZZ_SECONDS})
  else()
    set(FUZZ_FRAME_SECONDS 30)
  endif()
  add_test(NAME fuzz.frame
           COMMAND ${CMAKE_COMMAND} -E env TETHER_FUZZ_SEEDS=${FUZZ_FRAME_CORPUS}
                   sh -c "mkdir -p '${FUZZ_FRAME_CORPUS}' && exec \"$0\" -max_total_time=${FUZZ_FRAME_SECONDS} -rss_limit_mb=2048 -timeout=10 '${FUZZ_FRAME_CORPUS}'"
                   $<TARGET_FILE:fuzz_frame>)
  set_tests_properties(fuzz.frame PROPERTIES TIMEOUT 900 LABELS fuzz)
  # tetherd's KServe v2 request parser (tests/fuzz/fuzz_kserve.c), compiled in from src/server
  add_executable(fuzz_kserve ${CMAKE_CURRENT_LIST_DIR}/fuzz_kserve.c ${CMAKE_SOURCE_DIR}/src/server/kserve.c)
  target_link_libraries(fuzz_kserve PRIVATE tether_static)
  target_link_options(fuzz_kserve PRIVATE -fsanitize=fuzzer)
  set(FUZZ_KSERVE_CORPUS ${CMAKE_BINARY_DIR}/fuzz/kserve-corpus)
  add_test(NAME fuzz.kserve
           COMMAND ${CMAKE_COMMAND} -E env TETHER_FUZZ_SEEDS=${FUZZ_KSERVE_CORPUS}
                   sh -c "mkdir -p '${FUZZ_KSERVE_CORPUS}' && exec \"$0\" -max_total_time=${FUZZ_FRAME_SECONDS} -rss_limit_mb=2048 -timeout=10 '${FUZZ_KSERVE_CORPUS}'"
                   $<TARGET_FILE:fuzz_kserve>)
  set_tests_properties(fuzz.kserve PROPERTIES TIMEOUT 900 LABELS fuzz)
elseif(TETHER_FUZZ)
  message(STATUS "tether: fuzz_frame needs clang (CMAKE_C_COMPILER=clang)")
endif()
