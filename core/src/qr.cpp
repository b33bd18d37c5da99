// SPDX-License-Identifier: Apache-2.0
#include "authctl/qr.hpp"

#include <qrencode.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

namespace authctl {

Result<QrMatrix> encode_qr(const std::string& text)
{
    errno = 0;
    std::unique_ptr<QRcode, void (*)(QRcode*)> code(QRcode_encodeString8bit(text.c_str(), 0, QR_ECLEVEL_M),
                                                    &QRcode_free);
    if (!code) {
        if (errno == ENOMEM) throw std::bad_alloc();
        return make_error(Errc::invalid_argument,
                          std::string("cannot encode the QR code: ") + std::strerror(errno != 0 ? errno : EINVAL));
    }
    QrMatrix m;
    m.size = code->width + 2 * kQrQuietZone;
    m.dark.assign(static_cast<std::size_t>(m.size * m.size), false);
    for (int y = 0; y < code->width; ++y)
        for (int x = 0; x < code->width; ++x)
            m.dark[static_cast<std::size_t>((y + kQrQuietZone) * m.size + x + kQrQuietZone)] =
                (code->data[y * code->width + x] & 1) != 0;
    return m;
}

std::string render_utf8(const QrMatrix& qr)
{
    std::string out;
    for (int y = 0; y < qr.size; y += 2) {
        for (int x = 0; x < qr.size; ++x) {
            const bool top_light = !qr.at(x, y);
            const bool bottom_light = y + 1 < qr.size ? !qr.at(x, y + 1) : true;
            if (top_light && bottom_light)
                out += "\u2588";  // full block
            else if (top_light)
                out += "\u2580";  // upper half
            else if (bottom_light)
                out += "\u2584";  // lower half
            else
                out += ' ';
        }
        out += '\n';
    }
    return out;
}

}  // namespace authctl
