// SPDX-License-Identifier: Apache-2.0
// QR codes for otpauth URIs (libqrencode), drawn for a terminal or written to a file.
#pragma once

#include <string>
#include <vector>

namespace authctl::cli {

// The modules of a QR code, with the 4-module quiet zone included.
struct QrMatrix {
    int size = 0;
    std::vector<bool> dark;  // size * size, row-major
    bool at(int x, int y) const { return dark[static_cast<std::size_t>(y * size + x)]; }
};

// Encodes `text` (byte mode, error correction level M). Throws Failure on error.
QrMatrix encode_qr(const std::string& text);

// Two rows per line with half blocks. Light modules (and the quiet zone) are
// drawn, dark ones left blank: right for the usual light-on-dark terminal.
std::string render_utf8(const QrMatrix& qr);

// Black and white backgrounds with ANSI colour codes: right on any terminal.
std::string render_ansi(const QrMatrix& qr);

// An SVG document, `scale` user units per module.
std::string render_svg(const QrMatrix& qr, int scale = 8);

// Writes a greyscale PNG, `scale` pixels per module, to `path` (mode 0600,
// O_NOFOLLOW, O_EXCL: never over an existing file). Throws Failure on error.
void write_png(const QrMatrix& qr, const std::string& path, int scale = 8);

// Writes `text` to a new file `path` the same way.
void write_new_file(const std::string& path, const std::string& text);

}  // namespace authctl::cli
