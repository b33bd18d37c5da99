// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: what the store writes. validate_record stands in for
// parsing every record back before it is written (LockedRecord::commit), so
// for any record, in range or not, it must refuse exactly what the parser would
// refuse of its serialization (and a type or algorithm outside the enum, which
// the writer cannot spell), and a record it passes must round-trip.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "arbitrary_record.hpp"
#include "authctl/record.hpp"

namespace {

void require(bool ok, const char* what)
{
    if (ok) return;
    std::fprintf(stderr, "fuzz_record_write: property failed: %s\n", what);
    __builtin_trap();
}

struct Bytes {
    FuzzedDataProvider& fdp;
    std::uint64_t below(std::uint64_t n) { return fdp.ConsumeIntegralInRange<std::uint64_t>(0, n - 1); }
    std::uint64_t any() { return fdp.ConsumeIntegral<std::uint64_t>(); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    FuzzedDataProvider fdp(data, size);
    Bytes src{fdp};
    const authctl::UserRecord rec = authctl::test::arbitrary_record(src);
    const auto ok = authctl::validate_record(rec);
    const authctl::SecretBytes text = authctl::serialize_record(rec);
    const auto back = authctl::parse_record(text.view());
    if (!authctl::test::enums_in_range(rec)) {
        require(!ok.has_value(), "validate_record refuses a type or algorithm outside the enum");
        return 0;
    }
    require(ok.has_value() == back.has_value(), "validate_record(r) passes exactly when parse(serialize(r)) does");
    if (!ok) return 0;
    require(text.size() <= authctl::kMaxRecordBytes, "a valid record serializes within kMaxRecordBytes");
    require(authctl::serialize_record(*back).view() == text.view(), "serialize(parse(serialize(r))) == serialize(r)");
    return 0;
}
