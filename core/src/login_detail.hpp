// SPDX-License-Identifier: Apache-2.0
// What login.cpp's decisions share with invitation.cpp's (issue 17): the
// counting of a failure, a clock that was ahead, and ending a section.
#pragma once

#include "authctl/login.hpp"
#include "authctl/store.hpp"

namespace authctl::detail {

// Errc::invalid_argument for a clock before 1970.
Status check_clock(std::int64_t now);

// Records one failure of ctx.user from ctx.source (a decision source) and
// returns what attempt_code reports of it (outcome wrong_code).
AttemptResult fail(UserRecord& rec, const LoginContext& ctx, const Options& base);

// Brings back stored times a clock that was ahead left behind (clamp_to_now
// and a TOTP last_step past the window). True when anything was ahead.
bool clock_was_ahead(UserRecord& rec, const Options& opts, const LoginContext& ctx);

// True when the record's invitation may be taken up at `now` (invitation.cpp):
// unexpired, and no confirmed enrollment unless it replaces one.
bool invitation_usable(const UserRecord& r, std::int64_t now) noexcept;

// A decision's result, once the store has acknowledged its writes.
template <typename T>
Result<T> finished(LockedRecord& held, T value)
{
    if (auto st = held.finish(); !st) return st.error();
    return value;
}

}  // namespace authctl::detail
