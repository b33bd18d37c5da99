// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the user-record parser (stored state is hostile input).
// Property: a text that parses serializes to a text that parses again to the
// same serialization, so what the store writes is always what it reads back.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "authctl/record.hpp"

namespace {

void require(bool ok, const char* what)
{
    if (ok) return;
    std::fprintf(stderr, "fuzz_record: property failed: %s\n", what);
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    auto rec = authctl::parse_record(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!rec) {
        require(rec.error().code == authctl::Errc::corrupt, "a rejected record is Errc::corrupt");
        return 0;
    }
    const authctl::SecretBytes first = authctl::serialize_record(*rec);
    require(first.size() <= authctl::kMaxRecordBytes, "a parsed record serializes within kMaxRecordBytes");
    auto again = authctl::parse_record(first.view());
    require(again.has_value(), "the serialization of a parsed record parses");
    const authctl::SecretBytes second = authctl::serialize_record(*again);
    require(first.view() == second.view(), "serialize(parse(serialize(r))) == serialize(r)");
    return 0;
}
