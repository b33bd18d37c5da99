// SPDX-License-Identifier: Apache-2.0
// QR codes for otpauth URIs (libqrencode), and their drawing as text: what
// the CLI prints at enrollment and the PAM module sends through the
// conversation at an enrollment by invitation (invitation.hpp).
#pragma once

#include <string>
#include <vector>

#include "authctl/result.hpp"

namespace authctl {

// The modules of a QR code, with the 4-module quiet zone included.
struct QrMatrix {
    int size = 0;
    std::vector<bool> dark;  // size * size, row-major
    bool at(int x, int y) const { return dark[static_cast<std::size_t>(y * size + x)]; }
};

inline constexpr int kQrQuietZone = 4;

// Encodes `text` (byte mode, error correction level M). Errc::invalid_argument
// when libqrencode cannot (too long, out of memory), with its reason.
Result<QrMatrix> encode_qr(const std::string& text);

// Two rows per line with half blocks. Light modules (and the quiet zone) are
// drawn, dark ones left blank: right for the usual light-on-dark terminal.
// Every line ends with '\n'.
std::string render_utf8(const QrMatrix& qr);

}  // namespace authctl
