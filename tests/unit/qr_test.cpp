// SPDX-License-Identifier: Apache-2.0
// core/src/qr.cpp (issue 17 review): libqrencode's modules, which encode the
// otpauth URI and so the secret, are zeroed before QRcode_free. QRcode_free
// is interposed here (this executable's definition comes first) to look at
// the buffer it is handed, then forwards to libqrencode's.
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <qrencode.h>

#include <cstddef>
#include <string>

#include "authctl/qr.hpp"

namespace {
int g_freed = 0;          // QRcode_free calls seen
int g_freed_nonzero = 0;  // of those, with a module byte not zero
}  // namespace

extern "C" void QRcode_free(QRcode* code)
{
    using Real = void (*)(QRcode*);
    static const Real real = reinterpret_cast<Real>(::dlsym(RTLD_NEXT, "QRcode_free"));
    if (code != nullptr) {
        ++g_freed;
        const std::size_t n = static_cast<std::size_t>(code->width) * static_cast<std::size_t>(code->width);
        for (std::size_t i = 0; i < n; ++i)
            if (code->data[i] != 0) {
                ++g_freed_nonzero;
                break;
            }
    }
    if (real != nullptr) real(code);
}

namespace authctl {
namespace {

TEST(Qr, TheModulesAreZeroedBeforeLibqrencodeFreesThem)
{
    g_freed = g_freed_nonzero = 0;
    auto qr = encode_qr("otpauth://totp/host:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=host");
    ASSERT_TRUE(qr);
    EXPECT_GT(qr->size, 2 * kQrQuietZone);
    EXPECT_EQ(g_freed, 1) << "QRcode_free was not reached through the interposer";
    EXPECT_EQ(g_freed_nonzero, 0) << "libqrencode's modules were freed without being cleared";
}

TEST(Qr, TheDrawingHasTwoRowsALineAndFitsTheReservedBuffer)
{
    auto qr = encode_qr("otpauth://totp/host:alice?secret=JBSWY3DPEHPK3PXP");
    ASSERT_TRUE(qr);
    const std::string drawn = render_utf8(*qr);
    std::size_t lines = 0;
    for (char c : drawn) lines += c == '\n' ? 1 : 0;
    EXPECT_EQ(lines, static_cast<std::size_t>((qr->size + 1) / 2));
    // The one buffer reserved up front holds the whole drawing (no growth).
    const std::size_t bound =
        static_cast<std::size_t>((qr->size + 1) / 2) * (static_cast<std::size_t>(qr->size) * 3 + 1);
    EXPECT_LE(drawn.size(), bound);
    EXPECT_EQ(drawn.capacity(), bound) << "the drawing's buffer grew (copies left behind) or was not reserved";
}

}  // namespace
}  // namespace authctl
