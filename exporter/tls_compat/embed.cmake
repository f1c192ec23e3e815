# cmake -DIN=<file> -DOUT=<file.cpp> -DNAME=<symbol> -P embed.cmake: writes the bytes of IN as a C++ array.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE "${OUT}" "// Generated from ${IN}. Do not edit.\n#include <cstddef>\nnamespace epc {\nextern const unsigned char ${NAME}[] = {\n${body}\n};\nextern const std::size_t ${NAME}Size = ${bytes};\n}\n")
