# Writes OUT, a C++ header defining faultline::nemeses::NAME, a std::string_view of the bytes of
# IN. Every byte is written as a \xNN escape, so any content (quotes, backslashes, NUL) comes
# through unchanged. Run as: cmake -DIN=... -DOUT=... -DNAME=... [-DNAMESPACE=...] -P embed.cmake
# (NAMESPACE: faultline::nemeses unless given).
if(NOT NAMESPACE)
  set(NAMESPACE faultline::nemeses)
endif()
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
set(body "")
set(i 0)
while(i LESS hex_length)
  string(SUBSTRING "${hex}" ${i} 64 chunk)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" chunk "${chunk}")
  string(APPEND body "    \"${chunk}\"\n")
  math(EXPR i "${i} + 64")
endwhile()
file(WRITE "${OUT}.tmp"
     "// Generated from ${IN} by nemeses/embed.cmake: do not edit.\n"
     "#pragma once\n\n#include <string_view>\n\nnamespace ${NAMESPACE} {\n\n"
     "inline constexpr std::string_view ${NAME}{\n    \"\"\n${body}    , ${size}};\n\n"
     "}  // namespace ${NAMESPACE}\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
