// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: base32_decode (secrets in URIs, records and imports).
// Property: whatever decodes encodes to canonical base32 that decodes to the
// same bytes, and the encoder's output never needs the decoder's leniency.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "authctl/base32.hpp"

namespace {

void require(bool ok, const char* what)
{
    if (ok) return;
    std::fprintf(stderr, "fuzz_base32: property failed: %s\n", what);
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto bytes = authctl::base32_decode(text);
    if (!bytes) {
        require(bytes.error().code == authctl::Errc::invalid_argument, "a rejected input is Errc::invalid_argument");
        return 0;
    }
    require(size <= authctl::kBase32MaxInput, "inputs over kBase32MaxInput are refused");
    require(bytes->size() * 8 <= size * 5, "at most 5 bits per input character");

    const std::string encoded = authctl::base32_encode(*bytes);
    require(encoded.size() == (bytes->size() * 8 + 4) / 5, "unpadded encoding length");
    for (char c : encoded) require((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'), "encoding uses A-Z2-7 only");
    auto back = authctl::base32_decode(encoded);
    require(back.has_value(), "an encoding decodes");
    require(back->view() == bytes->view(), "decode(encode(decode(x))) == decode(x)");
    return 0;
}
