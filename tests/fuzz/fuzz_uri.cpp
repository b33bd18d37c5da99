// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the otpauth:// key URI parser (URIs are pasted by admins
// and imported from other tools). Property: a URI that parses is rebuilt by
// build_key_uri into one that parses to the same fields (or refused by it as
// too long once escaped).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "authctl/otpauth_uri.hpp"

namespace {

void require(bool ok, const char* what)
{
    if (ok) return;
    std::fprintf(stderr, "fuzz_uri: property failed: %s\n", what);
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    auto uri = authctl::parse_key_uri(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!uri) {
        require(uri.error().code == authctl::Errc::invalid_argument, "a rejected URI is Errc::invalid_argument");
        return 0;
    }
    require(!uri->account.empty(), "a parsed URI has an account");
    require(uri->secret.size() >= authctl::kMinSecretBytes && uri->secret.size() <= authctl::kMaxSecretBytes,
            "secret is kMinSecretBytes..kMaxSecretBytes");

    auto built = authctl::build_key_uri(*uri);
    if (!built) {
        // The one refusal allowed: escaping (3 bytes per non-ASCII byte) made it too long to read back.
        const bool too_long = built.error().code == authctl::Errc::invalid_argument &&
                              built.error().detail.find("once escaped") != std::string::npos;
        if (!too_long) std::fprintf(stderr, "fuzz_uri: build_key_uri: %s\n", built.error().message().c_str());
        require(too_long, "a parsed URI can be built, unless its escaped form is too long");
        return 0;
    }
    auto again = authctl::parse_key_uri(*built);
    if (!again) std::fprintf(stderr, "fuzz_uri: reparse of %s: %s\n", built->c_str(), again.error().message().c_str());
    require(again.has_value(), "the built URI parses");

    require(again->type == uri->type, "same type");
    require(again->issuer == uri->issuer, "same issuer");
    require(again->account == uri->account, "same account");
    require(again->secret.view() == uri->secret.view(), "same secret");
    require(again->algo == uri->algo, "same algorithm");
    require(again->digits == uri->digits, "same digits");
    if (uri->type == authctl::OtpType::totp)
        require(again->period == uri->period, "same period");
    else
        require(again->counter == uri->counter, "same counter");
    return 0;
}
