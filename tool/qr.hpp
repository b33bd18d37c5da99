// SPDX-License-Identifier: Apache-2.0
// QR codes for otpauth URIs (libqrencode), drawn for a terminal or written to a file.
#pragma once

// The code itself and its UTF-8 drawing are core's (authctl/qr.hpp), which
// the PAM module shares.
#include <string>

#include "authctl/qr.hpp"

namespace authctl::cli {

// core's encode_qr; throws Failure on error.
QrMatrix encode_qr(const std::string& text);

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
