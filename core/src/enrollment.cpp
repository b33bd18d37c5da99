// SPDX-License-Identifier: Apache-2.0
#include "authctl/enrollment.hpp"

namespace authctl {

Result<Enrollment> new_enrollment(const EnrollParams& params, std::int64_t now)
{
    if (now <= 0) return make_error(Errc::invalid_argument, "the clock reads before 1970");
    if (params.digits < kMinDigits || params.digits > kMaxDigits)
        return make_error(Errc::invalid_argument, "digits must be 6, 7 or 8");
    if (params.type == OtpType::totp && (params.period < kMinPeriod || params.period > kMaxPeriod))
        return make_error(Errc::invalid_argument, "period must be 1 to 300 seconds");
    auto secret = random_secret(kSecretBytes);
    if (!secret) return secret.error();
    Enrollment e;
    e.type = params.type;
    e.algo = params.algo;
    e.digits = params.digits;
    e.period = params.type == OtpType::totp ? params.period : 30;
    e.secret = std::move(*secret);
    e.created = now;
    return e;
}

bool widely_supported(const EnrollParams& params) noexcept
{
    return params.algo == HashAlgo::sha1 && params.digits == 6 && (params.type == OtpType::hotp || params.period == 30);
}

Result<std::string> enrollment_uri(const Enrollment& e, std::string_view issuer, std::string_view account)
{
    KeyUri uri;
    uri.type = e.type;
    uri.issuer = std::string(issuer);
    uri.account = std::string(account);
    uri.secret = e.secret.clone();
    uri.algo = e.algo;
    uri.digits = e.digits;
    uri.period = e.period;
    uri.counter = e.counter;
    return build_key_uri(uri);
}

}  // namespace authctl
