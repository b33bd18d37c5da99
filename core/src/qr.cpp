// SPDX-License-Identifier: Apache-2.0
#include "authctl/qr.hpp"

#include <qrencode.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

namespace authctl {
namespace {

// Zeroes libqrencode's modules (which encode the text).
void clear_qr_data(QRcode* code) noexcept
{
    if (code == nullptr || code->data == nullptr || code->width <= 0) return;
    const std::size_t n = static_cast<std::size_t>(code->width) * static_cast<std::size_t>(code->width);
    volatile unsigned char* p = code->data;
    for (std::size_t i = 0; i < n; ++i) p[i] = 0;
}

// The deleter: cleared, then freed (also when an exception leaves early).
void free_cleared(QRcode* code) noexcept
{
    clear_qr_data(code);
    QRcode_free(code);
}

}  // namespace

Result<QrMatrix> encode_qr(const std::string& text)
{
    errno = 0;
    std::unique_ptr<QRcode, void (*)(QRcode*)> code(QRcode_encodeString8bit(text.c_str(), 0, QR_ECLEVEL_M),
                                                    &free_cleared);
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
    // The modules encode the secret: free_cleared zeroes them before
    // libqrencode frees them. (Its intermediate buffers, freed inside
    // QRcode_encodeString8bit, are out of reach.)
    return m;
}

std::string render_utf8(const QrMatrix& qr)
{
    std::string out;
    // One buffer (3 bytes a column at most, a newline a row): growing would
    // leave copies of the drawing (which encodes the secret) behind.
    if (qr.size > 0)
        out.reserve(static_cast<std::size_t>((qr.size + 1) / 2) * (static_cast<std::size_t>(qr.size) * 3 + 1));
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
